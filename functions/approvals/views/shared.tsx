/** What every approvals page shares: agent text made visible, categories, durations, times, notices, event tables. */
import type { Child } from 'hono/jsx';

/**
 * Bidi controls, zero-width and other invisible characters (Unicode's default-ignorable ones, and
 * the Hangul fillers that draw as blank): shown as visible markers, never obeyed. Variation
 * selectors stay (emoji and CJK need them).
 */
const INVISIBLE_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x00, 0x08],
  [0x0b, 0x0c],
  [0x0e, 0x1f],
  [0x7f, 0x7f], // C0 controls but tab and newline, DEL
  [0xad, 0xad],
  [0x34f, 0x34f], // soft hyphen, combining grapheme joiner
  [0x61c, 0x61c],
  [0x115f, 0x1160],
  [0x17b4, 0x17b5],
  [0x180e, 0x180e], // Arabic letter mark, Hangul fillers, Khmer inherent vowels, Mongolian vowel separator
  [0x200b, 0x200f],
  [0x202a, 0x202e],
  [0x2060, 0x206f],
  [0x3164, 0x3164],
  [0xfeff, 0xfeff],
  [0xffa0, 0xffa0], // zero-width, bidi, invisible operators, deprecated format controls, Hangul filler, BOM
  [0x1bca0, 0x1bca3],
  [0x1d173, 0x1d17a],
  [0xe0000, 0xe007f], // shorthand and musical format controls; tag characters (letters no one sees, that a model reads)
];
const hex = (code: number) => `\\u{${code.toString(16)}}`;
const INVISIBLE = new RegExp(
  `[${INVISIBLE_RANGES.map(([from, to]) => (from === to ? hex(from) : `${hex(from)}-${hex(to)}`)).join('')}]`,
  'gu',
);

/**
 * The first `max` UTF-16 units of `text`, never cutting a character in two (an emoji or any
 * character beyond the basic plane would leave half a surrogate pair, drawn as U+FFFD); `ellipsis`
 * marks a cut.
 */
export function clip(text: string, max: number, ellipsis = ''): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  const end = code >= 0xd800 && code <= 0xdbff ? max - 1 : max;
  return `${text.slice(0, end)}${ellipsis}`;
}

/** `text` with every invisible character written as its code (`[U+202E]`): for places that take no markup (SVG text, titles). */
export const markInvisible = (text: string | null | undefined): string =>
  (text ?? '').replace(INVISIBLE, (char) => `[U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}]`);

/** Text an agent gave us, escaped by JSX, with every invisible character made visible. */
export function Visible({ text }: { text: string | null | undefined }) {
  const value = text ?? '';
  const parts: Child[] = [];
  let last = 0;
  for (const match of value.matchAll(INVISIBLE)) {
    const index = match.index ?? 0;
    if (index > last) parts.push(value.slice(last, index));
    const code = `U+${(match[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
    parts.push(
      <span class="hidden-char" title={`invisible character ${code}`}>
        {`[${code}]`}
      </span>,
    );
    last = index + match[0].length;
  }
  if (last < value.length) parts.push(value.slice(last));
  return <>{parts}</>;
}

/** A term and its agent-provided text in a facts list, or nothing when there is no text. */
export const TextFact = ({ label, text }: { label: string; text: string | null | undefined }) =>
  text ? (
    <>
      <dt>{label}</dt>
      <dd>
        <Visible text={text} />
      </dd>
    </>
  ) : null;

/** Category by word and colour (and a sign for risky): readable without colour. */
export const Category = ({ category }: { category: string }) => <span class={`cat cat-${category}`}>{category}</span>;

export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

export const when = (date: Date | null) =>
  date ? <time datetime={date.toISOString()}>{date.toISOString().replace('T', ' ').slice(0, 19)} UTC</time> : '—';

export function Notice({ kind, children }: { kind: 'ok' | 'error'; children: Child }) {
  return (
    <div class={kind === 'error' ? 'notice error' : 'notice'} role={kind === 'error' ? 'alert' : 'status'}>
      {children}
    </div>
  );
}

/** A block of text that may scroll (its height is capped): focusable, so a keyboard can scroll it too. */
export const Pre = ({ children }: { children: Child }) => <pre tabindex={0}>{children}</pre>;

/** An input value as text: strings as they are, nothing as empty, anything else as JSON. */
export const str = (value: unknown) =>
  typeof value === 'string' ? value : value === undefined || value === null ? '' : JSON.stringify(value);

/** How much of a body or outcome a page shows (characters). */
export const PREVIEW = 4000;

/** A numbered list of events (an action's audit trail, a run's events) with their data as text. */
export function EventTable(props: {
  id: string;
  title: string;
  events: ReadonlyArray<{ seq: string | number; name: string; actor?: string; created_at: Date | null; data: unknown }>;
  withActor?: boolean;
  maxData?: number;
}) {
  return (
    <section aria-labelledby={props.id}>
      <h2 id={props.id}>{props.title}</h2>
      <table class="stack">
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Event</th>
            {props.withActor ? <th scope="col">By</th> : null}
            <th scope="col">At</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {props.events.map((event) => (
            <tr>
              <td data-label="#">{event.seq}</td>
              <td data-label="Event">{event.name}</td>
              {props.withActor ? <td data-label="By">{event.actor}</td> : null}
              <td data-label="At">{when(event.created_at)}</td>
              <td data-label="Details" class="mono">
                <Visible text={clip(JSON.stringify(event.data), props.maxData ?? Number.POSITIVE_INFINITY)} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
