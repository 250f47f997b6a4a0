/**
 * The governed row of `npm run bench:chat` ((d)): a key made through POST /v1/keys with limits, a
 * budget and a model allow-list, on a server that writes spend rows — beside the plain row (c), whose
 * key comes from MYCA_API_KEYS on a server with spend rows off.
 */
export const ADMIN_KEY = `myca_${'d'.repeat(40)}`;

/** Limits far above what the bench reaches: every request is checked and counted, none refused. */
export async function governedKey(url: string): Promise<string> {
  const response = await fetch(`${url}/v1/keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
    body: JSON.stringify({
      name: 'bench',
      models: ['execution', 'planning', 'fast'],
      rpm: 1_000_000,
      tpm: 1_000_000_000,
      budget_usd: 1_000_000,
      budget_period: 'day',
    }),
  });
  if (response.status !== 201) throw new Error(`POST /v1/keys answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { secret: string }).secret;
}

/** Spend rows the governed server wrote (to show that logging was on). */
export async function spendRows(databaseUrl: string): Promise<number> {
  const { default: postgres } = await import('postgres');
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<Array<{ n: number }>>`select count(*)::int as n from llm_spend`;
    return row?.n ?? 0;
  } finally {
    await sql.end();
  }
}
