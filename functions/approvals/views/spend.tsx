import type { Principal } from '../../../shared/http/auth.js';
import { Layout } from './layout.js';
import { clip, markInvisible, Visible, when } from './shared.js';
import type { KeyLimitView, SpendGroup, SpendPeriod, SpendTotals } from './types.js';

const DAY_MS = 86_400_000;
const GROUPS = { key: 'Key', agent: 'Agent', model: 'Model', day: 'Day', kind: 'Kind' } as const;

/** US dollars: cents for a dollar and more, six places below a cent (one call often costs less). */
export const usd = (value: number) => `$${value.toFixed(value !== 0 && Math.abs(value) < 0.01 ? 6 : 2)}`;
const num = (value: number) => value.toLocaleString('en-US');
const isoDay = (date: Date) => date.toISOString().slice(0, 10);

/** What a group is called: a key's name (and id), an agent, a model, a day; a missing one says so. */
function label(row: SpendGroup, groupBy: SpendPeriod['group_by']): string {
  if (row.group === null) return groupBy === 'agent' ? '(no agent)' : groupBy === 'model' ? '(no model: refused)' : '(none)';
  return row.name && row.name !== row.group ? `${row.name} (${row.group})` : row.group;
}

const CHART = { width: 640, labelWidth: 220, barWidth: 300, row: 26 };

/**
 * Cost per group as horizontal bars, widths proportional to cost (the widest is the largest). Plain
 * SVG: a title and description for screen readers; the table below carries the same numbers.
 */
export function SpendChart(props: { rows: SpendGroup[]; groupBy: SpendPeriod['group_by']; caption: string }) {
  const max = Math.max(0, ...props.rows.map((row) => row.cost_usd));
  const height = props.rows.length * CHART.row + 8;
  return (
    <svg
      class="chart"
      role="img"
      aria-labelledby="spend-chart-title spend-chart-desc"
      viewBox={`0 0 ${CHART.width} ${height}`}
      width={CHART.width}
      height={height}
    >
      <title id="spend-chart-title">{props.caption}</title>
      <desc id="spend-chart-desc">
        {props.rows.map((row) => `${markInvisible(clip(label(row, props.groupBy), 80, '…'))}: ${usd(row.cost_usd)}`).join('; ')}
      </desc>
      {props.rows.map((row, index) => {
        const y = 4 + index * CHART.row;
        const width = max > 0 ? Number(((row.cost_usd / max) * CHART.barWidth).toFixed(2)) : 0;
        return (
          <g data-group={markInvisible(row.group)}>
            <text x={CHART.labelWidth - 8} y={y + 16} text-anchor="end" fill="currentColor" font-size="13">
              {markInvisible(clip(row.name ?? label(row, props.groupBy), 26, '…'))}
            </text>
            <rect class="bar" x={CHART.labelWidth} y={y + 3} width={width} height={CHART.row - 8} fill="#2d5b3a" />
            <text x={CHART.labelWidth + width + 6} y={y + 16} fill="currentColor" font-size="13">
              {usd(row.cost_usd)}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

function Filters({ period }: { period: SpendPeriod }) {
  return (
    <form method="get" action="/approvals/spend" class="filters">
      <div>
        <label for="spend-from">From (UTC)</label>
        <input id="spend-from" type="date" name="from" value={isoDay(period.from)} />
      </div>
      <div>
        <label for="spend-to">To (UTC, included)</label>
        <input id="spend-to" type="date" name="to" value={isoDay(new Date(period.to.getTime() - 1))} />
      </div>
      <div>
        <label for="spend-group">Group by</label>
        <select id="spend-group" name="group_by">
          {(Object.keys(GROUPS) as Array<keyof typeof GROUPS>).map((group) => (
            <option value={group} selected={group === period.group_by}>
              {GROUPS[group].toLowerCase()}
            </option>
          ))}
        </select>
      </div>
      <button type="submit">Show</button>
    </form>
  );
}

const limit = (value: number | null, used: number | undefined) =>
  value === null ? `no limit${used ? ` (${num(used)} this minute)` : ''}` : `${num(used ?? 0)} of ${num(value)} this minute`;

function KeyLimits({ keys }: { keys: KeyLimitView[] }) {
  return (
    <section aria-labelledby="key-limits">
      <h2 id="key-limits">Keys: limits and use</h2>
      {keys.length === 0 ? (
        <p>No keys.</p>
      ) : (
        <table class="stack">
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Role</th>
              <th scope="col">Requests per minute</th>
              <th scope="col">Tokens per minute</th>
              <th scope="col">Budget</th>
            </tr>
          </thead>
          <tbody>
            {keys.map((key) => (
              <tr data-key={key.id}>
                <td data-label="Key">
                  <Visible text={key.name} />
                  {key.name !== key.id ? (
                    <span class="mono muted">
                      {' '}
                      (<Visible text={key.id} />)
                    </span>
                  ) : null}
                  {key.source === 'config' ? <span class="muted"> · configured</span> : null}
                </td>
                <td data-label="Role">{key.role}</td>
                <td data-label="Requests per minute">
                  {key.source === 'config'
                    ? key.rpm === null
                      ? 'no limit'
                      : `shared limit: ${num(key.rpm)} (LLM_RATE_LIMIT_RPM)`
                    : `${key.usage ? limit(key.rpm, key.usage.requests_this_minute) : 'use unknown'}${key.rpm_default && key.rpm !== null ? ' (default)' : ''}`}
                </td>
                <td data-label="Tokens per minute">{key.usage ? limit(key.tpm, key.usage.tokens_this_minute) : 'use unknown'}</td>
                <td data-label="Budget">
                  {key.budget_usd === null ? (
                    'none'
                  ) : (
                    <>
                      {key.usage?.budget_used_usd != null ? `${usd(key.usage.budget_used_usd)} of ` : 'use unknown of '}
                      {usd(key.budget_usd)} per {key.budget_period}
                      {key.usage?.budget_resets_at ? <> (resets {when(new Date(key.usage.budget_resets_at))})</> : null}
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** Spend over a period per key, agent, model or day (chart and table), then every key's limits and use. */
export function SpendPage(props: {
  period: SpendPeriod;
  rows: SpendGroup[];
  totals: SpendTotals;
  keys: KeyLimitView[];
  principal: Principal;
  csrf: string;
}) {
  const { period, rows, totals } = props;
  const groupName = GROUPS[period.group_by];
  const days = Math.round((period.to.getTime() - period.from.getTime()) / DAY_MS);
  const caption = `Cost per ${groupName.toLowerCase()}, ${isoDay(period.from)} to ${isoDay(new Date(period.to.getTime() - 1))} (UTC, ${days} days)`;
  return (
    <Layout title="Spend" principal={props.principal} csrf={props.csrf} section="spend">
      <h1>Spend</h1>
      <Filters period={period} />
      {rows.length === 0 ? (
        <p id="spend-empty">No LLM calls were recorded in this period.</p>
      ) : (
        <>
          <SpendChart rows={rows} groupBy={period.group_by} caption={caption} />
          <table class="stack" id="spend-table">
            <caption>{caption}</caption>
            <thead>
              <tr>
                <th scope="col">{groupName}</th>
                <th scope="col">Requests</th>
                <th scope="col">Errors</th>
                <th scope="col">Prompt tokens</th>
                <th scope="col">Completion tokens</th>
                <th scope="col">Cost (USD)</th>
                <th scope="col">Unpriced</th>
                <th scope="col">Avg latency</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr data-group={markInvisible(row.group)}>
                  <th scope="row" data-label={groupName}>
                    <Visible text={label(row, period.group_by)} />
                  </th>
                  <td data-label="Requests">{num(row.requests)}</td>
                  <td data-label="Errors">{num(row.errors)}</td>
                  <td data-label="Prompt tokens">{num(row.prompt_tokens)}</td>
                  <td data-label="Completion tokens">{num(row.completion_tokens)}</td>
                  <td data-label="Cost (USD)">{usd(row.cost_usd)}</td>
                  <td data-label="Unpriced">{num(row.unpriced_requests)}</td>
                  <td data-label="Avg latency">{num(row.avg_latency_ms)} ms</td>
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr id="spend-total">
                <th scope="row" data-label={groupName}>
                  Total
                </th>
                <td data-label="Requests">{num(totals.requests)}</td>
                <td data-label="Errors">{num(totals.errors)}</td>
                <td data-label="Prompt tokens">{num(totals.prompt_tokens)}</td>
                <td data-label="Completion tokens">{num(totals.completion_tokens)}</td>
                <td data-label="Cost (USD)">{usd(totals.cost_usd)}</td>
                <td data-label="Unpriced" />
                <td data-label="Avg latency" />
              </tr>
            </tfoot>
          </table>
        </>
      )}
      <KeyLimits keys={props.keys} />
    </Layout>
  );
}
