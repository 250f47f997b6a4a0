/**
 * The spend page as HTML (no server, no database): representative rows and the empty state, read for
 * the numbers a person relies on (table and chart agree, bars proportional to cost), names shown as
 * text, no secret; and the query schema that guards the route (bad input is refused, not a 500).
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { spendQuerySchema } from './spend.js';
import { type KeyLimitView, type SpendGroup, SpendPage, type SpendPeriod, usd } from './views/index.js';

const admin = { id: 'root', role: 'admin' as const };
const approver = { id: 'alice', role: 'approver' as const };
const NOW = Date.parse('2026-11-29T12:00:00.000Z');
const period: SpendPeriod = { group_by: 'agent', from: new Date('2026-11-23T00:00:00Z'), to: new Date('2026-11-30T00:00:00Z') };
const HOSTILE = '<script>alert(1)</script>fin\u202Eance\u200B';

const group = (name: string | null, cost: number, requests: number): SpendGroup => ({
  group: name,
  requests,
  errors: 1,
  prompt_tokens: requests * 100,
  completion_tokens: requests * 20,
  cost_usd: cost,
  unpriced_requests: 0,
  avg_latency_ms: 250,
});
const rows = [group('financial', 0.5, 40), group(HOSTILE, 0.25, 20), group(null, 0.125, 1)];
const totals = { requests: 61, errors: 3, prompt_tokens: 6100, completion_tokens: 1220, cost_usd: 0.875 };
const keys: KeyLimitView[] = [
  {
    id: 'vk_0123456789abcdef01234567',
    name: 'fleet <b>key</b>',
    role: 'agent',
    source: 'data',
    rpm: 60,
    rpm_default: false,
    tpm: 10_000,
    budget_usd: 5,
    budget_period: 'day',
    usage: { requests_this_minute: 3, tokens_this_minute: 1200, budget_used_usd: 1.25, budget_resets_at: '2026-11-30T00:00:00.000Z' },
  },
  {
    id: 'vk_ffffffffffffffffffffffff',
    name: 'default',
    role: 'agent',
    source: 'data',
    rpm: 100,
    rpm_default: true,
    tpm: null,
    budget_usd: null,
    budget_period: null,
    usage: { requests_this_minute: 7, tokens_this_minute: 0, budget_used_usd: null, budget_resets_at: null },
  },
  {
    id: 'root',
    name: 'root',
    role: 'admin',
    source: 'config',
    rpm: 100,
    rpm_default: true,
    tpm: null,
    budget_usd: null,
    budget_period: null,
    usage: null,
  },
];

async function render(props: Partial<Parameters<typeof SpendPage>[0]> = {}): Promise<string> {
  const app = new Hono();
  app.get('/', (c) => c.html(SpendPage({ period, rows, totals, keys, principal: admin, csrf: 't', ...props })));
  return (await app.request('/')).text();
}

describe('the spend page', () => {
  it('shows each group’s numbers in the table and the totals in its footer', async () => {
    const html = await render();
    const table = html.slice(html.indexOf('id="spend-table"'), html.indexOf('</table>'));
    const financial = table.slice(table.indexOf('data-group="financial"'));
    expect(financial).toMatch(/<td data-label="Requests">40<\/td><td data-label="Errors">1<\/td>/);
    expect(financial).toContain('<td data-label="Prompt tokens">4,000</td>');
    expect(financial).toContain('<td data-label="Cost (USD)">$0.50</td>');
    const total = table.slice(table.indexOf('id="spend-total"'));
    expect(total).toContain('<td data-label="Requests">61</td>');
    expect(total).toContain('<td data-label="Cost (USD)">$0.88</td>');
    expect(table).toContain('(no agent)');
    expect(html).toContain('<caption>Cost per agent, 2026-11-23 to 2026-11-29 (UTC, 7 days)</caption>');
  });

  it('draws one bar per group, widths proportional to cost, with a title and a description naming the same numbers', async () => {
    const html = await render();
    const svg = html.slice(html.indexOf('<svg'), html.indexOf('</svg>'));
    expect(svg).toContain('role="img"');
    expect(svg).toContain('aria-labelledby="spend-chart-title spend-chart-desc"');
    expect(svg).toMatch(/<title id="spend-chart-title">Cost per agent, 2026-11-23 to 2026-11-29/);
    expect(svg).toMatch(/<desc id="spend-chart-desc">financial: \$0.50; /);
    const widths = [...svg.matchAll(/<rect class="bar"[^>]* width="([\d.]+)"/g)].map((match) => Number(match[1]));
    expect(widths).toEqual([300, 150, 75]);
  });

  it('shows names as text: markup escaped, invisible characters as their codes, in the table, the chart and the keys', async () => {
    const html = await render();
    expect(html).not.toContain('<script>alert');
    expect(html).not.toContain('<b>key</b>');
    expect(html).toContain('fleet &lt;b&gt;key&lt;/b&gt;');
    expect(html).not.toMatch(/[\u202E\u200B]/);
    expect(html).toContain('title="invisible character U+202E"'); // the table (Visible)
    const svg = html.slice(html.indexOf('<svg'), html.indexOf('</svg>'));
    expect(svg).toContain('&lt;script&gt;alert(1)&lt;/script&gt;fin[U+202E]ance[U+200B]'); // the chart (no markup in SVG text)
  });

  it('lists the keys’ limits and their use this minute and period, and no secret', async () => {
    const html = await render();
    const key = html.slice(html.indexOf('data-key="vk_0123456789abcdef01234567"'));
    expect(key).toContain('<td data-label="Requests per minute">3 of 60 this minute</td>');
    expect(key).toContain('1,200 of 10,000 this minute');
    expect(key).toMatch(/\$1.25 of \$5.00 per day \(resets <time datetime="2026-11-30T00:00:00.000Z">/);
    const root = html.slice(html.indexOf('data-key="root"'));
    expect(root).toContain('<td data-label="Requests per minute">shared limit: 100 (LLM_RATE_LIMIT_RPM)</td>');
    expect(root).toContain('<td data-label="Tokens per minute">use unknown</td>');
    const fallback = html.slice(html.indexOf('data-key="vk_ffffffffffffffffffffffff"'));
    expect(fallback).toContain('<td data-label="Requests per minute">7 of 100 this minute (default)</td>');
    expect(fallback).toContain('<td data-label="Tokens per minute">no limit</td>');
    expect(root).toContain('<td data-label="Budget">none</td>');
    expect(html).not.toMatch(/myca_|sha256|secret/i);
  });

  it('says so when the period has no spend (no chart, no table) and still lists the keys', async () => {
    const html = await render({ rows: [], totals: { requests: 0, errors: 0, prompt_tokens: 0, completion_tokens: 0, cost_usd: 0 } });
    expect(html).toContain('No LLM calls were recorded in this period.');
    expect(html).not.toContain('<svg');
    expect(html).not.toContain('id="spend-table"');
    expect(html).toContain('Keys: limits and use');
  });

  it('keeps the chosen period and grouping in the form and marks Spend as the current page (for admins only)', async () => {
    const html = await render();
    expect(html).toContain('<input id="spend-from" type="date" name="from" value="2026-11-23"');
    expect(html).toContain('<input id="spend-to" type="date" name="to" value="2026-11-29"');
    expect(html).toMatch(/<option value="agent" selected="">agent<\/option>/);
    expect(html).toContain('<a href="/approvals/spend" aria-current="page">Spend</a>');
    expect(await render({ principal: approver })).not.toContain('<a href="/approvals/spend"');
  });

  it('writes dollars in cents, and below a cent to six places', () => {
    expect([usd(0), usd(12.5), usd(0.000123), usd(0.01)]).toEqual(['$0.00', '$12.50', '$0.000123', '$0.01']);
  });
});

describe('the spend page’s query', () => {
  const parse = (query: Record<string, string>) => spendQuerySchema(NOW).safeParse(query);

  it('defaults to the last 7 days (today included), per key', () => {
    expect(parse({}).data).toEqual({ group_by: 'key', from: new Date('2026-11-23T00:00:00Z'), to: new Date('2026-11-30T00:00:00Z') });
    expect(parse({ from: '', to: '', group_by: 'day' }).data?.group_by).toBe('day');
  });

  it('takes dates as whole UTC days (the last one included) and date-times as they are', () => {
    expect(parse({ from: '2026-01-01', to: '2026-01-31' }).data).toMatchObject({
      from: new Date('2026-01-01T00:00:00Z'),
      to: new Date('2026-02-01T00:00:00Z'),
    });
    expect(parse({ from: '2026-01-01T06:00:00Z', to: '2026-01-02T06:00:00Z' }).data?.to).toEqual(new Date('2026-01-02T06:00:00Z'));
  });

  it.each([
    [{ group_by: 'secret' }, 'group_by'],
    [{ from: 'yesterday' }, 'from'],
    [{ to: '2026-13-01' }, 'to'],
    [{ from: '2026-11-10', to: '2026-11-01' }, 'start before it ends'],
    [{ from: '2025-01-01', to: '2026-11-01' }, 'at most 366 days'],
  ])('refuses %o', (query, message) => {
    const result = parse(query as Record<string, string>);
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toContain(message);
  });
});
