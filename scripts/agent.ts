/**
 * `npm run agent -- <name> "<input>"`: runs one agent against a running MYCA Edge and prints each
 * step as it happens. Exits 0 when the run answers, 1 when it fails, 2 on a usage error.
 *
 *   MYCA_URL      the server (default http://127.0.0.1:$PORT, PORT default 8080)
 *   MYCA_API_KEY  an agent key (npm start prints the dev keys on its first start)
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';

const [name, ...rest] = process.argv.slice(2);
const input = rest.join(' ').trim();
const base = (process.env.MYCA_URL || `http://127.0.0.1:${process.env.PORT || 8080}`).replace(/\/+$/, '');
const key = process.env.MYCA_API_KEY;
const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number, text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
const dim = (text: string) => paint(2, text);

function usage(message: string): never {
  console.error(
    `${message}\n\nusage: npm run agent -- <agent> "<what it should do>"\n       (MYCA_URL=${base}, MYCA_API_KEY=<an agent key>)`,
  );
  process.exit(2);
}

interface Problem {
  title?: string;
  detail?: string;
  hint?: string;
}

async function call(path: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(`${base}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...init.headers },
    });
  } catch (error) {
    console.error(`cannot reach ${base}: ${(error as Error).cause ?? (error as Error).message}\nis the server running? (npm start)`);
    process.exit(1);
  }
}

async function fail(response: Response): Promise<never> {
  const problem = (await response.json().catch(() => ({}))) as Problem;
  console.error(`${paint(31, `✗ ${response.status} ${problem.title ?? response.statusText}`)}: ${problem.detail ?? ''}`);
  if (problem.hint) console.error(dim(`  hint: ${problem.hint}`));
  process.exit(1);
}

const short = (value: unknown, max = 160) => {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max)}…` : text;
};

/** One line (or a few) per event, as a person watching the run wants to read it. */
function print(type: string, data: Record<string, unknown>): void {
  switch (type) {
    case 'started':
      console.log(dim(`run started by ${data.by}`));
      break;
    case 'resumed':
      console.log(dim(`resumed (${data.trigger})`));
      break;
    case 'step_started':
      console.log(paint(1, `▸ step ${data.step}`) + dim(` thinking with ${data.model}`));
      break;
    case 'tool_call':
      console.log(`  ↳ ${data.action_type ?? data.name} ${dim(short(data.input))}`);
      break;
    case 'action_executed':
      console.log(
        `  ${paint(32, '✓')} ${data.type} executed ${dim(`(action ${data.action_id}${data.approved_by ? `, approved by ${data.approved_by}` : ''})`)}`,
      );
      break;
    case 'action_pending':
      console.log(`  ${paint(33, '⏸')} ${data.type} waits for approval ${dim(`(action ${data.action_id})`)}`);
      console.log(dim(`    approve it at ${base}/approvals or POST ${base}/v1/actions/${data.action_id}/approve`));
      break;
    case 'waiting_approval':
      console.log(paint(33, '… waiting for an approver (Ctrl-C stops watching; the run goes on)'));
      break;
    case 'action_rejected':
      console.log(`  ${paint(31, '✗')} ${data.type} rejected by ${data.rejected_by}: ${data.reason}`);
      break;
    case 'action_denied':
    case 'action_failed':
      console.log(
        `  ${paint(31, '✗')} ${data.type ?? 'tool call'} ${type === 'action_denied' ? 'refused' : 'failed'}: ${short(data.error ?? data.problem)}`,
      );
      break;
    case 'action_expired':
      console.log(`  ${paint(31, '✗')} ${data.type}: the approval expired`);
      break;
    case 'final':
      console.log(`${paint(32, '■ answer')}\n${data.output}`);
      break;
    case 'failed':
      console.log(`${paint(31, '■ failed')}: ${data.error}`);
      break;
    default:
      console.log(dim(`${type} ${short(data)}`));
  }
}

/** Follows the run's events until it ends, reconnecting with Last-Event-ID when the stream drops. */
async function follow(runId: string): Promise<'final' | 'failed'> {
  let last = 0;
  // The server ends a stream after 10 minutes (and at once for a finished run): reopen it from the
  // last event seen until the run has ended; give up only after repeated broken connections.
  for (let broken = 0; broken < 20; ) {
    const response = await call(`/v1/runs/${runId}/events`, { headers: { accept: 'text/event-stream', 'last-event-id': String(last) } });
    if (!response.ok || !response.body) await fail(response);
    let end: 'final' | 'failed' | undefined;
    const parser = createParser({
      onEvent: (event: EventSourceMessage) => {
        if (event.id) last = Number(event.id);
        print(event.event ?? 'message', JSON.parse(event.data) as Record<string, unknown>);
        if (event.event === 'final' || event.event === 'failed') end = event.event;
      },
    });
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        parser.feed(decoder.decode(chunk, { stream: true }));
        if (end) return end;
      }
      broken = 0;
    } catch {
      broken++;
    }
    if (end) return end;
    const run = (await (await call(`/v1/runs/${runId}`)).json()) as { status: string };
    if (run.status === 'succeeded') return 'final';
    if (run.status === 'failed') return 'failed';
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error('the event stream kept breaking off');
}

if (!name || !input) usage('name an agent and say what it should do');
if (!key) usage('set MYCA_API_KEY to an agent key');

const started = await call(`/v1/agents/${encodeURIComponent(name)}/runs`, {
  method: 'POST',
  headers: { prefer: 'respond-async' },
  body: JSON.stringify({ input }),
});
if (started.status !== 200 && started.status !== 202) await fail(started);
const run = (await started.json()) as { id: string; correlation_id: string };
console.log(dim(`run ${run.id} (agent ${name}, correlation id ${run.correlation_id})`));
const end = await follow(run.id);
const final = (await (await call(`/v1/runs/${run.id}`)).json()) as { step: number; usage: { total_tokens: number }; cost_usd: number };
console.log(dim(`${final.step} step(s), ${final.usage.total_tokens} tokens, ~$${final.cost_usd.toFixed(4)}`));
process.exit(end === 'final' ? 0 : 1);
