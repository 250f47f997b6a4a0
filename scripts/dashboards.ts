/**
 * The Grafana dashboards of the local stack, as code: `npm run dashboards` writes
 * config/grafana/dashboards/*.json (provisioned by Grafana). A test fails when the files are stale,
 * use only the provisioned datasource uids, and query only metrics the app exports.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PROMETHEUS = { type: 'prometheus', uid: 'prometheus' } as const;
const TEMPO = { type: 'tempo', uid: 'tempo' } as const;
const RATE = '$__rate_interval';
/** A Grafana template variable reference (`${name}`), substituted by Grafana, not by JavaScript. */
const GRAFANA_VARIABLE = (name: string) => `\${${name}}`;

interface Query {
  expr: string;
  legend: string;
}

let nextId = 1;
const grid = (x: number, y: number, w = 12, h = 8) => ({ x, y, w, h });

function timeseries(title: string, queries: Query[], unit: string, gridPos: ReturnType<typeof grid>, description?: string) {
  return {
    id: nextId++,
    type: 'timeseries',
    title,
    ...(description ? { description } : {}),
    datasource: PROMETHEUS,
    gridPos,
    fieldConfig: { defaults: { unit, custom: { drawStyle: 'line', fillOpacity: 10, showPoints: 'never' } }, overrides: [] },
    options: { legend: { displayMode: 'table', placement: 'bottom', calcs: ['lastNotNull', 'max'] }, tooltip: { mode: 'multi' } },
    targets: queries.map((query, index) => ({
      refId: String.fromCharCode(65 + index),
      datasource: PROMETHEUS,
      expr: query.expr,
      legendFormat: query.legend,
    })),
  };
}

function stat(title: string, expr: string, unit: string, gridPos: ReturnType<typeof grid>, description?: string) {
  return {
    id: nextId++,
    type: 'stat',
    title,
    ...(description ? { description } : {}),
    datasource: PROMETHEUS,
    gridPos,
    fieldConfig: { defaults: { unit }, overrides: [] },
    options: { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'area' },
    targets: [{ refId: 'A', datasource: PROMETHEUS, expr, legendFormat: title }],
  };
}

const quantiles = (metric: string, by: string, legend: string): Query[] =>
  [0.5, 0.95, 0.99].map((q) => ({
    expr: `histogram_quantile(${q}, sum by (le, ${by}) (rate(${metric}_bucket[${RATE}])))`,
    legend: `p${Math.round(q * 100)} ${legend}`,
  }));

function dashboard(uid: string, title: string, description: string, panels: unknown[], extra: Record<string, unknown> = {}) {
  return {
    uid,
    title,
    description,
    tags: ['myca-edge'],
    timezone: 'browser',
    schemaVersion: 39,
    version: 1,
    editable: false,
    refresh: '10s',
    time: { from: 'now-1h', to: 'now' },
    templating: { list: [] },
    annotations: { list: [] },
    links: [{ title: 'MYCA Edge', type: 'dashboards', tags: ['myca-edge'], asDropdown: false }],
    panels,
    ...extra,
  };
}

export function buildDashboards(): Record<string, unknown> {
  nextId = 1;
  const llm = dashboard('myca-llm', 'MYCA Edge · LLM', 'chat-route: provider calls, errors, latency, tokens, cost, fallbacks, breaker', [
    timeseries(
      'Calls by provider, model and status',
      [{ expr: `sum by (provider, model, status) (rate(llm_calls_total[${RATE}]))`, legend: '{{provider}}/{{model}} {{status}}' }],
      'reqps',
      grid(0, 0),
    ),
    timeseries(
      'Error ratio',
      [
        {
          expr: `sum by (provider, model) (rate(llm_calls_total{status!="success"}[${RATE}])) / sum by (provider, model) (rate(llm_calls_total[${RATE}]))`,
          legend: '{{provider}}/{{model}}',
        },
      ],
      'percentunit',
      grid(12, 0),
    ),
    timeseries('Call latency', quantiles('llm_call_duration_seconds', 'provider, model', '{{provider}}/{{model}}'), 's', grid(0, 8)),
    timeseries(
      'Time to first token (streams)',
      quantiles('llm_time_to_first_token_seconds', 'provider, model', '{{provider}}/{{model}}'),
      's',
      grid(12, 8),
    ),
    timeseries(
      'Tokens',
      [{ expr: `sum by (provider, model, type) (rate(llm_tokens_total[${RATE}]))`, legend: '{{provider}}/{{model}} {{type}}' }],
      'short',
      grid(0, 16),
    ),
    stat(
      'Cost in the selected range (USD)',
      'sum(increase(llm_cost_usd_total[$__range]))',
      'currencyUSD',
      grid(12, 16, 6),
      'From the prices in models.yaml',
    ),
    timeseries(
      'Cost by provider and model',
      [{ expr: `sum by (provider, model) (increase(llm_cost_usd_total[${RATE}]))`, legend: '{{provider}}/{{model}}' }],
      'currencyUSD',
      grid(18, 16, 6),
    ),
    timeseries(
      'Fallbacks (served after a failed attempt)',
      [{ expr: `sum by (provider, model) (rate(llm_fallbacks_total[${RATE}]))`, legend: 'served by {{provider}}/{{model}}' }],
      'reqps',
      grid(0, 24),
    ),
    timeseries(
      'Breaker: attempts skipped while open',
      [{ expr: `sum by (provider, model) (rate(llm_calls_total{status="breaker_open"}[${RATE}]))`, legend: '{{provider}}/{{model}}' }],
      'reqps',
      grid(12, 24),
      'Non-zero while a model cools down after repeated failures',
    ),
    timeseries(
      'Response cache by task (hit, semantic, miss)',
      [{ expr: `sum by (task, result) (rate(llm_cache_requests_total[${RATE}]))`, legend: '{{task}} {{result}}' }],
      'reqps',
      grid(0, 32),
      'Only requests the cache applies to (on for the task, deterministic, not no-store)',
    ),
    timeseries(
      'Cost saved by the response cache (USD)',
      [{ expr: `sum by (task) (increase(llm_cache_saved_cost_usd_total[${RATE}]))`, legend: '{{task}}' }],
      'currencyUSD',
      grid(12, 32),
      "The first call's cost, counted again on every hit",
    ),
    timeseries(
      'Key policy refusals by reason',
      [{ expr: `sum by (reason) (rate(llm_governance_refusals_total[${RATE}]))`, legend: '{{reason}}' }],
      'reqps',
      grid(0, 40),
      'Requests a key policy refused: rate_limited, tokens_exhausted, budget_exceeded, model, agent',
    ),
    timeseries(
      'Spend rows dropped unwritten',
      [{ expr: `sum by (reason) (increase(llm_spend_rows_dropped_total[${RATE}]))`, legend: '{{reason}}' }],
      'short',
      grid(12, 40),
      'Non-zero only when Postgres stayed down past LLM_SPEND_BUFFER_ROWS buffered rows',
    ),
  ]);

  const actions = dashboard('myca-actions', 'MYCA Edge · Actions', 'action-execute, approvals, audit records and agent runs', [
    timeseries(
      'Executions by tool and status',
      [{ expr: `sum by (tool_name, status) (rate(tool_executions_total[${RATE}]))`, legend: '{{tool_name}} {{status}}' }],
      'ops',
      grid(0, 0),
    ),
    timeseries('Execution latency', quantiles('tool_duration_seconds', 'tool_name', '{{tool_name}}'), 's', grid(12, 0)),
    stat('Waiting for approval', 'sum(actions_pending)', 'short', grid(0, 8, 6)),
    timeseries('Approval latency', quantiles('action_approval_latency_seconds', 'decision', '{{decision}}'), 's', grid(6, 8, 18)),
    timeseries(
      'Denials by action',
      [{ expr: `sum by (action_type) (rate(action_audit_logs_total{status="denied"}[${RATE}]))`, legend: '{{action_type}}' }],
      'ops',
      grid(0, 16),
    ),
    timeseries(
      'Audit records by status',
      [{ expr: `sum by (status) (rate(action_audit_logs_total[${RATE}]))`, legend: '{{status}}' }],
      'ops',
      grid(12, 16),
    ),
    timeseries(
      'Agent runs finished',
      [{ expr: `sum by (agent_name, status) (increase(agent_runs_total[${RATE}]))`, legend: '{{agent_name}} {{status}}' }],
      'short',
      grid(0, 24),
    ),
    timeseries('Agent run duration', quantiles('agent_run_duration_seconds', 'agent_name', '{{agent_name}}'), 's', grid(12, 24)),
  ]);

  const http = dashboard(
    'myca-http',
    'MYCA Edge · HTTP',
    'Every route: rate, errors, latency; and the trace of one request from its correlation id',
    [
      timeseries(
        'Requests by route',
        [{ expr: `sum by (route) (rate(http_requests_total[${RATE}]))`, legend: '{{route}}' }],
        'reqps',
        grid(0, 0),
      ),
      timeseries(
        'Errors (5xx ratio, 4xx rate)',
        [
          {
            expr: `sum by (route) (rate(http_requests_total{status=~"5.."}[${RATE}])) / sum by (route) (rate(http_requests_total[${RATE}]))`,
            legend: '5xx {{route}}',
          },
          { expr: `sum by (route) (rate(http_requests_total{status=~"4.."}[${RATE}]))`, legend: '4xx/s {{route}}' },
        ],
        'short',
        grid(12, 0),
      ),
      timeseries('Latency by route', quantiles('http_request_duration_seconds', 'route', '{{route}}'), 's', grid(0, 8, 18)),
      stat(
        'Unhandled rejections',
        `sum(increase(process_unhandled_rejections_total[$__range]))`,
        'short',
        grid(18, 8, 6),
        'Promise rejections nothing handled (a bug): logged at error level with the correlation id; the process kept serving',
      ),
      {
        id: nextId++,
        type: 'traces',
        title: 'Trace of a request (paste its x-correlation-id above)',
        description: 'The correlation id is the W3C trace id (unless the caller sent its own non-hex id)',
        datasource: TEMPO,
        gridPos: grid(0, 16, 24, 14),
        targets: [{ refId: 'A', datasource: TEMPO, queryType: 'traceql', query: GRAFANA_VARIABLE('correlation_id'), limit: 20 }],
      },
    ],
    {
      templating: {
        list: [{ name: 'correlation_id', label: 'Correlation id', type: 'textbox', query: '', current: { text: '', value: '' } }],
      },
    },
  );
  return { 'llm.json': llm, 'actions.json': actions, 'http.json': http };
}

export const DASHBOARD_DIR = join(fileURLToPath(new URL('..', import.meta.url)), 'config', 'grafana', 'dashboards');

export const serialize = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const [name, board] of Object.entries(buildDashboards())) writeFileSync(join(DASHBOARD_DIR, name), serialize(board));
  console.log(`wrote ${Object.keys(buildDashboards()).join(', ')} to ${DASHBOARD_DIR}`);
}
