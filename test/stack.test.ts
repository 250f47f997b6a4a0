import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { buildDashboards, DASHBOARD_DIR } from '../scripts/dashboards.js';
import { ROOT_DIR } from '../shared/runtime/node-config.js';
import { METRIC_FAMILIES } from '../shared/telemetry/metrics.js';
import { apiKeys, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { startFakeLLM } from './support/fake-llm.js';
import { type RuntimeHandle, startRuntime } from './support/runtimes.js';

const required = process.env.MYCA_REQUIRE_TOOLS === '1';
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const read = (path: string) => readFileSync(join(ROOT_DIR, path), 'utf8');

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'offset', 'bool']);

/** Every metric a PromQL expression selects: names left once matchers, ranges and groupings are cut, not called like functions. */
function metricsIn(expr: string): string[] {
  const bare = expr
    .replace(/"[^"]*"/g, '')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without)\s*\([^)]*\)/g, '');
  return [...bare.matchAll(/\b([a-z_][a-z0-9_]*)\b(?!\s*\()/g)]
    .map((match) => match[1] as string)
    .filter((name) => !PROMQL_WORDS.has(name))
    .map((name) => name.replace(/_(bucket|sum|count)$/, ''));
}

type Panel = { datasource?: { uid?: string }; targets?: Array<{ expr?: string; datasource?: { uid?: string } }> };
const dashboards = () =>
  Object.keys(buildDashboards()).map((name) => ({
    name,
    json: JSON.parse(readFileSync(join(DASHBOARD_DIR, name), 'utf8')) as { panels: Panel[] },
  }));

describe('the compose stack, checked without a Docker engine', () => {
  const compose = parse(read('docker-compose.yml')) as {
    services: Record<
      string,
      {
        image?: string;
        build?: unknown;
        environment?: Record<string, string>;
        volumes?: string[];
        depends_on?: Record<string, { condition: string }>;
        healthcheck?: unknown;
        profiles?: string[];
        networks?: string[];
      }
    >;
    volumes: Record<string, unknown>;
  };

  it('validates with docker-compose config', (ctx) => {
    ctx.skip(!required && !has('docker-compose'), 'no docker-compose on PATH (apt-get install docker-compose; CI has it)');
    const result = spawnSync(
      'docker-compose',
      ['-f', 'docker-compose.yml', '--profile', 'litellm', '--profile', 'ollama', '--profile', 'scale', 'config', '-q'],
      {
        cwd: ROOT_DIR,
        env: { PATH: process.env.PATH ?? '', POSTGRES_PASSWORD: 'p', UPSTASH_REDIS_REST_TOKEN: 't', GRAFANA_ADMIN_PASSWORD: 'g' },
        encoding: 'utf8',
      },
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('has every service, named volumes for state, one network, health-gated start and no secret in the file', () => {
    const services = compose.services;
    for (const name of ['app', 'postgres', 'redis', 'redis-rest', 'qdrant', 'prometheus', 'tempo', 'grafana', 'litellm', 'ollama', 'edge'])
      expect(services, name).toHaveProperty(name);
    for (const [name, volume] of [
      ['postgres', 'postgres-data'],
      ['redis', 'redis-data'],
      ['qdrant', 'qdrant-data'],
      ['prometheus', 'prometheus-data'],
      ['tempo', 'tempo-data'],
      ['grafana', 'grafana-data'],
      ['ollama', 'ollama-data'],
    ] as const) {
      expect(
        services[name]?.volumes?.some((v) => v.startsWith(`${volume}:`)),
        `${name} keeps its data in ${volume}`,
      ).toBe(true);
      expect(compose.volumes).toHaveProperty(volume);
    }
    expect(services.app?.depends_on?.postgres?.condition).toBe('service_healthy');
    expect(services.grafana?.depends_on?.prometheus?.condition).toBe('service_healthy');
    for (const [name, service] of Object.entries(services)) {
      expect(service.networks, name).toEqual(['myca']);
      for (const [key, value] of Object.entries(service.environment ?? {})) {
        if (/PASSWORD|TOKEN|SECRET|_KEY$|_KEYS$/.test(key))
          expect(String(value), `${name}.${key} comes from .env`).toMatch(/^\$\{|^postgres:\/\/myca:\$\{/);
      }
    }
    expect(services.litellm?.profiles).toEqual(['litellm']);
    expect(services.ollama?.profiles).toEqual(['ollama']);
    expect(services.edge?.profiles).toEqual(['scale']);
    expect(services.app?.environment?.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://tempo:4318');
  });

  it('pins every image to a version (no latest, no moving channel)', () => {
    const { services } = compose;
    for (const [name, service] of Object.entries(services)) {
      if (!service.image || service.build) continue;
      const tag = service.image.split('/').pop()?.split(':')[1] ?? '';
      expect(tag, `${name}: ${service.image}`).toMatch(/\d+\.\d+(\.\d+)?/);
      expect(tag, `${name}: ${service.image}`).not.toMatch(/latest|^main-stable$|^stable$/);
    }
  });

  it('passes every provider variable of .env.example to the app', () => {
    const example = read('.env.example');
    const section = example.slice(example.indexOf('# --- LLM providers'), example.indexOf('# --- Actions'));
    const providerVars = [...section.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)]
      .map((match) => match[1] as string)
      .filter((name) => name !== 'MODELS_CONFIG');
    expect(providerVars).toEqual(
      expect.arrayContaining(['OPENAI_API_KEY', 'GEMINI_BASE_URL', 'AZURE_OPENAI_API_VERSION', 'LLM_ROUTING_STRATEGY']),
    );
    const environment = compose.services.app?.environment ?? {};
    for (const name of providerVars) expect(environment[name], name).toMatch(new RegExp(`^\\$\\{${name}(:-|})`));
  });

  it('resolves the provider variables from .env with docker-compose config (v1, no engine needed)', (ctx) => {
    ctx.skip(!required && !has('docker-compose'), 'no docker-compose on PATH (apt-get install docker-compose; CI has it)');
    const dir = mkdtempSync(join(tmpdir(), 'myca-compose-'));
    try {
      const result = spawnSync('docker-compose', ['-f', join(ROOT_DIR, 'docker-compose.yml'), '--project-directory', ROOT_DIR, 'config'], {
        cwd: dir,
        env: {
          PATH: process.env.PATH ?? '',
          POSTGRES_PASSWORD: 'p',
          UPSTASH_REDIS_REST_TOKEN: 't',
          GRAFANA_ADMIN_PASSWORD: 'g',
          GEMINI_BASE_URL: 'http://gemini.test',
          AZURE_OPENAI_API_VERSION: '2099-01-01',
        },
        encoding: 'utf8',
      });
      expect(result.status, result.stderr).toBe(0);
      const resolved = parse(result.stdout) as { services: Record<string, { environment?: Record<string, string> }> };
      expect(resolved.services.app?.environment).toMatchObject({
        GEMINI_BASE_URL: 'http://gemini.test',
        AZURE_OPENAI_API_VERSION: '2099-01-01',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('builds a multi-stage image that runs the bundle as a non-root user with a health check', () => {
    const dockerfile = read('Dockerfile');
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(3);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n?.*\/health/m);
    expect(dockerfile).toContain('CMD ["node", "--enable-source-maps", "dist/node/main.js"]');
    // The young generation is sized by the image, not by the container's memory (docs/DEPLOY.md).
    expect(dockerfile).toMatch(/^ENV NODE_OPTIONS=--max-semi-space-size=\d+$/m);
    expect(read('.dockerignore')).toMatch(/^node_modules$/m);
  });

  it('names in LiteLLM the same models as models.yaml', () => {
    const litellm = parse(read('config/litellm/config.yaml')) as {
      model_list: Array<{ model_name: string; litellm_params: { model: string } }>;
    };
    const models = parse(read('config/models.yaml')) as { models: Record<string, { provider: string; model: string }> };
    expect(litellm.model_list.map((m) => m.model_name).sort()).toEqual(Object.keys(models.models).sort());
    for (const entry of litellm.model_list) expect(entry.litellm_params.model.split('/')[1]).toBe(models.models[entry.model_name]?.model);
  });

  it('has a Prometheus config promtool accepts', (ctx) => {
    ctx.skip(!required && !has('promtool'), 'no promtool on PATH (apt-get install prometheus; CI has it)');
    const out = execFileSync('promtool', ['check', 'config', 'config/prometheus/prometheus.yml'], { cwd: ROOT_DIR, encoding: 'utf8' });
    expect(out).toContain('SUCCESS');
  });

  it('keeps the worker bundle under 1 MiB gzipped', () => {
    const script = inject('workerScript');
    const size = gzipSync(readFileSync(script)).length;
    expect(statSync(script).size).toBeGreaterThan(0);
    expect(size).toBeLessThan(1024 * 1024);
  });
});

describe('the Grafana dashboards', () => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  beforeAll(async () => {
    database = await migratedDatabase();
    app = await startRuntime('node', { DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys });
  });
  afterAll(async () => {
    await app?.close();
    await database?.drop();
  });

  it('are what scripts/dashboards.ts builds (npm run dashboards)', () => {
    const built = buildDashboards();
    for (const { name, json } of dashboards()) expect(json, `${name} is stale: npm run dashboards`).toEqual(built[name]);
  });

  it('use only the provisioned datasources', () => {
    const provisioned = parse(read('config/grafana/provisioning/datasources/datasources.yaml')) as { datasources: Array<{ uid: string }> };
    const uids = new Set(provisioned.datasources.map((d) => d.uid));
    for (const { name, json } of dashboards()) {
      for (const panel of json.panels) {
        expect(uids.has(panel.datasource?.uid ?? ''), `${name}: ${JSON.stringify(panel.datasource)}`).toBe(true);
        for (const target of panel.targets ?? []) expect(uids.has(target.datasource?.uid ?? ''), name).toBe(true);
      }
    }
  });

  it('query only metrics the app exports, and show every family it exports', async () => {
    const text = await (await app.fetch('/metrics')).text();
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1] as string));
    const queried = new Set(
      dashboards().flatMap(({ json }) =>
        json.panels.flatMap((panel) => (panel.targets ?? []).flatMap((target) => metricsIn(target.expr ?? ''))),
      ),
    );
    expect(
      [...queried].filter((name) => !exported.has(name)),
      'queried but not exported',
    ).toEqual([]);
    const families = Object.values(METRIC_FAMILIES).map((family) => family.name);
    expect(
      families.filter((name) => !queried.has(name)),
      'exported but on no dashboard',
    ).toEqual([]);
    expect(exported.has('actions_pending')).toBe(true);
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const havePrometheus = required || has('prometheus');

describe('a real Prometheus scraping the Node server', () => {
  // Each test says why it is skipped (the run's last lines list it); nothing is started for them.
  beforeEach((ctx) => {
    ctx.skip(!havePrometheus, 'no prometheus on PATH (apt-get install prometheus; CI has it)');
  });
  let database: TestDatabase;
  let app: RuntimeHandle;
  let prometheus: ChildProcess | undefined;
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  const dir = mkdtempSync(join(tmpdir(), 'myca-prometheus-'));
  let promUrl: string;

  beforeAll(async () => {
    if (!havePrometheus) return;
    database = await migratedDatabase();
    llm = await startFakeLLM();
    app = await startRuntime('node', {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      OPENAI_API_KEY: 'test-openai-key',
      OPENAI_BASE_URL: `${llm.url}/v1`,
    });
    const target = new URL(await app.url()).host;
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global: { scrape_interval: 1s }\nscrape_configs:\n  - job_name: myca-edge\n    static_configs: [{ targets: ["${target}"] }]\n`,
    );
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: 'ignore' },
    );
  });
  afterAll(async () => {
    if (prometheus?.pid) {
      prometheus.kill('SIGTERM');
      await new Promise((resolve) => prometheus?.once('exit', resolve));
    }
    await app?.close();
    await llm?.close();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const query = async (promql: string) => {
    const response = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(promql)}`).catch(() => null);
    if (!response?.ok) return [];
    return ((await response.json()) as { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } }).data
      .result;
  };

  it('answers PromQL for llm_calls_total and the HTTP metrics after traffic', async () => {
    for (let i = 0; i < 3; i++) {
      const response = await app.fetch('/v1/chat/completions', {
        method: 'POST',
        headers: { authorization: `Bearer ${keys.agent}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'planning', messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(response.status).toBe(200);
    }
    const deadline = Date.now() + 30_000;
    let calls: Awaited<ReturnType<typeof query>> = [];
    let http: Awaited<ReturnType<typeof query>> = [];
    while (Date.now() < deadline) {
      calls = await query('sum by (provider, model, status) (llm_calls_total)');
      http = await query('sum by (route) (http_requests_total{route="/v1/chat/completions"})');
      if (calls.length > 0 && http.length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(calls).toEqual([
      expect.objectContaining({ metric: { provider: 'openai', model: 'gpt-4o', status: 'success' }, value: [expect.any(Number), '3'] }),
    ]);
    expect(http[0]?.value[1]).toBe('3');
  }, 40_000);
});

it('make help lists every stack target, and make health reports each service on its own line', () => {
  const help = execFileSync('make', ['help'], { cwd: ROOT_DIR, encoding: 'utf8' });
  for (const target of ['up', 'down', 'logs', 'health', 'reset-db', 'migrate', 'test', 'fmt', 'lint', 'dev', 'start', 'bench'])
    expect(help).toMatch(new RegExp(`^  ${target} `, 'm'));
  expect(existsSync(join(ROOT_DIR, 'scripts', 'health.sh'))).toBe(true);
  // Nothing listens on these ports here: every line says DOWN and the exit code says so.
  const result = spawnSync('bash', ['scripts/health.sh'], {
    cwd: ROOT_DIR,
    env: {
      PATH: process.env.PATH ?? '',
      APP_URL: 'http://127.0.0.1:9',
      REDIS_REST_URL: 'http://127.0.0.1:9',
      QDRANT_HEALTH_URL: 'http://127.0.0.1:9',
      PROMETHEUS_HEALTH_URL: 'http://127.0.0.1:9',
      TEMPO_HEALTH_URL: 'http://127.0.0.1:9',
      GRAFANA_HEALTH_URL: 'http://127.0.0.1:9',
      POSTGRES_PORT: '9',
    },
    encoding: 'utf8',
  });
  expect(result.status).toBe(1);
  expect(result.stdout.match(/^ {2}DOWN /gm)?.length).toBe(8);
});

it('make health asks Postgres inside the compose stack through whichever Compose scripts/compose.sh finds (v1 too)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myca-compose-'));
  try {
    // A stand-in for `docker-compose` (v1): the stack's postgres container is up and ready.
    const fake = join(dir, 'docker-compose');
    writeFileSync(
      fake,
      `#!/usr/bin/env bash
echo "$*" >> ${join(dir, 'calls')}
case "$*" in
  *"ps -q postgres"*) echo 4f1c0ffee ;;
  *"exec -T postgres pg_isready"*) exit 0 ;;
  *) exit 1 ;;
esac
`,
      { mode: 0o755 },
    );
    const result = spawnSync('bash', ['scripts/health.sh'], {
      cwd: ROOT_DIR,
      env: { PATH: process.env.PATH ?? '', MYCA_COMPOSE: fake, APP_URL: 'http://127.0.0.1:9', POSTGRES_PORT: '9' },
      encoding: 'utf8',
    });
    expect(result.stdout).toMatch(/^ {2}ok {4}postgres +pg_isready in the postgres container$/m);
    expect(readFileSync(join(dir, 'calls'), 'utf8')).toContain('-p myca-edge exec -T postgres pg_isready -U myca -d myca');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
