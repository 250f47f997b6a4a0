import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { type Started, start, stop } from './support/server-process.js';

const ID = '00000000-0000-4000-8000-000000000000';
/** Every POST route of the app. */
const POST_ROUTES = [
  '/v1/actions',
  `/v1/actions/${ID}/approve`,
  `/v1/actions/${ID}/reject`,
  '/v1/agents/researcher/runs',
  `/v1/runs/${ID}/resume`,
  '/v1/chat/completions',
  '/v1/embeddings',
  '/approvals/login',
  '/approvals/logout',
  `/approvals/actions/${ID}/approve`,
  `/approvals/actions/${ID}/reject`,
];
const UPLOAD_BYTES = 200 * 1024 * 1024;
const CHUNK = new Uint8Array(64 * 1024).fill(0x20);
/**
 * The bound this test holds the server to: its resident memory never grows by more than this while
 * 200 MB chunked bodies arrive four at a time (measured: about 40-60 MB on an idle 2-core machine;
 * the largest route limit, 8 MiB for chat, times four in flight, plus buffers). Before the limits
 * were counted while streaming, one such body took RSS from 515 to 1115 MB.
 */
const RSS_GROWTH_BOUND_MB = 150;
/** The test server's budget of body bytes in flight (HTTP_MAX_INFLIGHT_BODY_BYTES): five chat bodies of 7.9 MB. */
const BUDGET_BYTES = 40 * 1024 * 1024;
/** The test server's SERVER_MAX_CONNECTIONS. */
const MAX_CONNECTIONS = 300;
/** The approvals forms' limit: a keyless body of exactly that size is taken. */
const FORM_BYTES = 64 * 1024;
/** A chat body just under the 8 MiB limit, as in the finding's reproduction. */
const NEAR_LIMIT_BYTES = Math.floor(7.9 * 1024 * 1024);

/** 200 MB of body, produced chunk by chunk: never built in memory. */
function* body(): Generator<Uint8Array> {
  for (let sent = 0; sent < UPLOAD_BYTES; sent += CHUNK.byteLength) yield CHUNK;
}

interface Answer {
  status: number;
  contentType: string;
  problem: { status?: number; hint?: string; code?: string } | null;
  sentBytes: number;
}

/** POSTs a chunked body from the generator, honouring back-pressure, until the server answers or closes. */
function upload(url: string, path: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve) => {
    let sentBytes = 0;
    let answered = false;
    const req = request(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': path.startsWith('/approvals') ? 'application/x-www-form-urlencoded' : 'application/json', ...headers },
    });
    req.on('response', (response) => {
      answered = true;
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('end', () => {
        let problem: Answer['problem'] = null;
        try {
          problem = JSON.parse(text) as Answer['problem'];
        } catch {}
        resolve({ status: response.statusCode ?? 0, contentType: String(response.headers['content-type']), problem, sentBytes });
        req.destroy();
      });
    });
    req.on('error', () => {
      if (!answered) resolve({ status: 0, contentType: '', problem: null, sentBytes });
    });
    const chunks = body();
    const pump = () => {
      while (!answered && !req.destroyed) {
        const next = chunks.next();
        if (next.done) {
          req.end();
          return;
        }
        sentBytes += next.value.byteLength;
        if (!req.write(next.value)) {
          req.once('drain', pump);
          return;
        }
      }
    };
    req.flushHeaders();
    pump();
  });
}

/** What a held connection got: the status line's code (0: closed without an answer) and its headers. */
interface Held {
  status: number;
  head: string;
  socket: Socket;
}

/**
 * POSTs up to `bytes` of chunked body over a raw socket and never sends the final chunk (a body that
 * never ends, as in the finding); stops writing once the server answers. Resolves with the answer's
 * status line, or 0 when the connection closed first.
 */
function holdOpen(url: string, path: string, bytes: number, headers: Record<string, string> = {}): Promise<Held> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    let head = '';
    let done = false;
    const socket = connect(Number(port), hostname);
    const finish = (status: number) => {
      if (done) return;
      done = true;
      resolve({ status, head, socket });
    };
    socket.on('data', (data: Buffer) => {
      head += data.toString('latin1');
      const match = /^HTTP\/1\.1 (\d{3})/.exec(head);
      if (match && head.includes('\r\n\r\n')) finish(Number(match[1]));
    });
    socket.on('error', () => finish(0));
    socket.on('close', () => finish(0));
    socket.on('connect', async () => {
      const extra = Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('');
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\n${extra}Transfer-Encoding: chunked\r\n\r\n`,
      );
      const size = `${CHUNK.byteLength.toString(16)}\r\n`;
      for (let sent = 0; sent < bytes && !done && !socket.destroyed; sent += CHUNK.byteLength) {
        socket.write(size);
        socket.write(CHUNK);
        if (!socket.write('\r\n')) await new Promise((drained) => socket.once('drain', drained));
      }
    });
  });
}

/** Established TCP connections to the server's port (the server's side of them), from /proc. */
const serverConnections = (pid: number, port: number) => {
  const local = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync(`/proc/${pid}/net/tcp`, 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[1]?.endsWith(local) && fields[3] === '01').length;
};

const rssMb = (pid: number) => {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) / 1024;
};

describe('request bodies on the Node server process', () => {
  let database: TestDatabase;
  let server: Started;

  beforeAll(async () => {
    database = await migratedDatabase();
    server = await start(
      {
        DATABASE_URL: database.url,
        MYCA_API_KEYS: apiKeys,
        MYCA_ENV: 'test',
        LOG_LEVEL: 'info',
        SERVER_HEADERS_TIMEOUT_MS: '1000',
        // Long enough for the bodies a budget test holds to stay held while the rest arrive (a loaded machine).
        SERVER_REQUEST_TIMEOUT_MS: '5000',
        HTTP_MAX_INFLIGHT_BODY_BYTES: String(BUDGET_BYTES),
        SERVER_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
      },
      { direct: true },
    );
  }, 90_000);
  afterAll(async () => {
    if (server && server.child.exitCode === null) await stop(server);
    await database?.drop();
  });

  it('cuts a 200 MB chunked body to every POST route at its limit with 413 problem+json (401 without a key under /v1), in bounded memory', async () => {
    const pid = server.child.pid as number;
    const before = rssMb(pid);
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMb(pid));
    }, 25);
    const uploads = POST_ROUTES.flatMap((path) => [
      { path, headers: {} as Record<string, string> },
      { path, headers: { authorization: `Bearer ${keys.agent}` } },
    ]);
    const answers: Array<Answer & { path: string; keyed: boolean }> = [];
    try {
      // Four at a time, as in the finding (four such bodies peaked at 1.8 GB).
      for (let i = 0; i < uploads.length; i += 4) {
        const batch = uploads.slice(i, i + 4);
        const results = await Promise.all(batch.map((u) => upload(server.url, u.path, u.headers)));
        results.forEach((result, j) => {
          const u = batch[j] as (typeof uploads)[number];
          answers.push({ ...result, path: u.path, keyed: Boolean(u.headers.authorization) });
        });
      }
    } finally {
      clearInterval(sampler);
    }
    const growth = peak - before;
    console.info(`RSS before ${before.toFixed(0)} MB, peak ${peak.toFixed(0)} MB, growth ${growth.toFixed(0)} MB`);
    for (const answer of answers) {
      const what = `${answer.keyed ? 'with' : 'without'} key ${answer.path}`;
      expect(answer.contentType, what).toContain('application/problem+json');
      if (!answer.keyed && answer.path.startsWith('/v1/')) {
        // The key is checked from the headers before any of the body is read.
        expect(answer.status, what).toBe(401);
        continue;
      }
      expect(answer.status, what).toBe(413);
      expect(answer.problem?.hint, what).toMatch(
        /at most \d+ bytes \(.*(HTTP_MAX_BODY_BYTES|ACTION_MAX_FILE_BYTES|chat|approvals forms).*\)/,
      );
      // Cut near its limit (8 MiB at most, plus what was in flight), not read to the end.
      expect(answer.sentBytes, what).toBeLessThan(UPLOAD_BYTES);
    }
    expect(growth).toBeLessThan(RSS_GROWTH_BOUND_MB);
  }, 180_000);

  it('refuses 120 concurrent keyless never-ending chunked bodies to /v1 with 401 before reading them, in bounded memory', async () => {
    const pid = server.child.pid as number;
    const before = rssMb(pid);
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMb(pid));
    }, 25);
    const started = Date.now();
    let held: Held[] = [];
    try {
      held = await Promise.all(
        Array.from({ length: 120 }, (_, i) =>
          holdOpen(
            server.url,
            i % 2 ? '/v1/actions' : '/v1/chat/completions',
            NEAR_LIMIT_BYTES,
            i % 3 ? {} : { authorization: 'Bearer wrong' },
          ),
        ),
      );
    } finally {
      clearInterval(sampler);
      for (const h of held) h.socket.destroy();
    }
    const seconds = (Date.now() - started) / 1000;
    const growth = peak - before;
    console.info(
      `120 keyless bodies: all answered in ${seconds.toFixed(1)} s; RSS before ${before.toFixed(0)} MB, peak ${peak.toFixed(0)} MB`,
    );
    // 401 from the headers alone. On a loaded machine this process may write a few of the 120 heads
    // later than SERVER_HEADERS_TIMEOUT_MS (1 s here): those get 408, also with no body read.
    const statuses = held.map((h) => h.status);
    expect(statuses.filter((status) => status !== 401 && status !== 408)).toEqual([]);
    expect(statuses.filter((status) => status === 401).length).toBeGreaterThanOrEqual(100);
    for (const h of held) if (h.status === 401) expect(h.head).toContain('application/problem+json');
    // Before the key was checked first: 7.9 MB held per connection (about 950 MB here).
    expect(growth).toBeLessThan(RSS_GROWTH_BOUND_MB);
  }, 120_000);

  it('holds at most HTTP_MAX_INFLIGHT_BODY_BYTES of keyed bodies at once: the rest get 503 with retry-after', async () => {
    const pid = server.child.pid as number;
    const before = rssMb(pid);
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMb(pid));
    }, 25);
    const count = 30;
    let held: Held[] = [];
    try {
      held = await Promise.all(
        Array.from({ length: count }, () =>
          holdOpen(server.url, '/v1/chat/completions', NEAR_LIMIT_BYTES, { authorization: `Bearer ${keys.agent}` }),
        ),
      );
    } finally {
      clearInterval(sampler);
      for (const h of held) h.socket.destroy();
    }
    const growth = peak - before;
    const busy = held.filter((h) => h.status === 503);
    console.info(
      `${count} keyed 7.9 MB bodies that never end: ${busy.length} × 503, others ${held
        .filter((h) => h.status !== 503)
        .map((h) => h.status)
        .join(',')}; RSS before ${before.toFixed(0)} MB, peak ${peak.toFixed(0)} MB`,
    );
    // The budget fits five such bodies; every other one is refused rather than held.
    expect(busy.length).toBeGreaterThanOrEqual(count - Math.floor(BUDGET_BYTES / NEAR_LIMIT_BYTES));
    for (const h of busy) {
      expect(h.head).toMatch(/retry-after: 1/i);
      expect(h.head).toContain('application/problem+json');
    }
    // The others were held until SERVER_REQUEST_TIMEOUT_MS (408) or closed: none was answered 2xx.
    for (const h of held) expect([0, 408, 503]).toContain(h.status);
    expect(growth).toBeLessThan(RSS_GROWTH_BOUND_MB);
  }, 120_000);

  it('bodies without a key hold at most a quarter of the budget: a keyed request still gets through', async () => {
    const count = 200; // 64 KiB each: 12.5 MiB, over the 10 MiB quarter of a 40 MiB budget
    let answered = 0;
    const holds = Array.from({ length: count }, () =>
      holdOpen(server.url, '/approvals/login', FORM_BYTES).then((held) => {
        answered++;
        return held;
      }),
    );
    let held: Held[] = [];
    try {
      // Once the quarter is full the rest are refused at once; the ones it holds wait for the request timeout.
      await expect.poll(() => answered, { timeout: 30_000 }).toBeGreaterThanOrEqual(count - Math.floor(BUDGET_BYTES / 4 / FORM_BYTES));
      const keyed = await fetch(`${server.url}/v1/actions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${keys.agent}`, 'content-type': 'application/json', 'idempotency-key': `quarter-${Date.now()}` },
        body: JSON.stringify({ type: 'db.query', input: { query: 'actions_of_type', params: { action_type: 'db.query' } } }),
      });
      expect(keyed.status, await keyed.text()).toBe(200);
      held = await Promise.all(holds);
    } finally {
      for (const h of await Promise.all(holds)) h.socket.destroy();
    }
    const busy = held.filter((h) => h.status === 503).length;
    console.info(`${count} keyless 64 KiB form bodies that never end: ${busy} × 503`);
    expect(busy).toBeGreaterThanOrEqual(count - Math.floor(BUDGET_BYTES / 4 / FORM_BYTES));
  }, 60_000);

  it('drops a request whose head or body arrives too slowly (SERVER_HEADERS_TIMEOUT_MS, SERVER_REQUEST_TIMEOUT_MS)', async () => {
    const { hostname, port } = new URL(server.url);
    const heldFor = (lines: string) =>
      new Promise<number>((resolve) => {
        const started = Date.now();
        const socket = connect(Number(port), hostname, () => socket.write(lines));
        socket.on('data', () => {});
        socket.on('error', () => {});
        socket.on('close', () => resolve(Date.now() - started));
      });
    // A head that never ends, and a body that stops after a few bytes.
    const [head, slowBody] = await Promise.all([
      heldFor('POST /v1/actions HTTP/1.1\r\nHost: x\r\n'),
      heldFor(`POST /v1/actions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"type"`),
    ]);
    // Node's default holds both for 300 s; the bounds leave room for a loaded machine.
    expect(head).toBeLessThan(15_000);
    expect(slowBody).toBeLessThan(15_000);
  }, 60_000);

  it('closes connections beyond SERVER_MAX_CONNECTIONS at once, and serves again when they are gone', async () => {
    const { hostname, port } = new URL(server.url);
    const opened = MAX_CONNECTIONS + 30;
    const sockets: Socket[] = [];
    // Start from none: a connection of an earlier test (fetch keeps them alive) closing mid-burst would free a slot.
    await expect.poll(() => serverConnections(server.child.pid as number, Number(port)), { timeout: 30_000 }).toBe(0);
    // Each connection asks for /health and stays open (keep-alive): answered, or closed unanswered.
    const outcomes = await Promise.all(
      Array.from(
        { length: opened },
        () =>
          new Promise<'answered' | 'closed'>((resolve) => {
            const socket = connect(Number(port), hostname, () => socket.write(`GET /health HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`));
            sockets.push(socket);
            socket.once('data', () => resolve('answered'));
            socket.on('error', () => resolve('closed'));
            socket.once('close', () => resolve('closed'));
          }),
      ),
    );
    for (const socket of sockets) socket.destroy();
    const answered = outcomes.filter((o) => o === 'answered').length;
    console.info(`${opened} connections at once: ${answered} answered, ${opened - answered} closed`);
    expect(answered).toBeLessThanOrEqual(MAX_CONNECTIONS);
    expect(opened - answered).toBeGreaterThanOrEqual(opened - MAX_CONNECTIONS);
    // Once they are gone, new connections are served again.
    await expect.poll(async () => (await fetch(`${server.url}/health`).catch(() => null))?.status, { timeout: 15_000 }).toBe(200);
  }, 60_000);
});
