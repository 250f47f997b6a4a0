/**
 * The house plan's import rules (docs/ARCHITECTURE.md), checked on every import of functions/ and
 * shared/ (static, `export … from`, dynamic `import()`), as TypeScript's own pre-processor reads them.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../shared/runtime/node-config.js';

/** The composition roots: the two entry points and the app they both serve. They may import anything. */
const ROOTS = new Set(['functions/index.ts', 'functions/node.ts', 'functions/app.ts']);

/**
 * The actions domain (functions/actions/): no capability of its own, but the rules, the audit store
 * and the catalog that action-execute, approve, approvals, agent-run and audit are thin HTTP layers
 * over. From outside its folder only its public face may be imported; it imports only itself and shared/.
 */
const DOMAIN = 'functions/actions/';
const PUBLIC_FACE = 'functions/actions/index.ts';

/**
 * The imports from one capability into another (functions/<a>/… → functions/<b>/…) that remain.
 * The list only shrinks; any import not listed here fails the test below.
 */
const KNOWN_CROSS_CAPABILITY = new Set([
  // agent-run thinks through chat-route in-process; its one door is agent-run/model.ts.
  'functions/agent-run/model.ts -> functions/chat-route/contract.ts',
  'functions/agent-run/model.ts -> functions/chat-route/index.ts',
  // A test that makes another agent's run, to show a run_id is tied to its caller.
  'functions/action-execute/security.test.ts -> functions/agent-run/store.ts',
  // The OpenAPI document describes every capability's request and response schemas (the actions
  // domain's come through its public face).
  'functions/openapi/routes-actions.ts -> functions/agent-run/index.ts',
  'functions/openapi/routes-llm.ts -> functions/chat-route/contract.ts',
  'functions/openapi/routes-operations.ts -> functions/health/index.ts',
  'functions/openapi/routes-operations.ts -> functions/ready/index.ts',
]);

/** Import circles inside shared/ today (types only); the list only shrinks. */
const KNOWN_CIRCLES = new Set([
  // BodyLimit (a type) lives in validate.ts, which raises errors.ts' ApiError, whose handler names AppEnv.
  'shared/http/errors.ts -> shared/http/types.ts -> shared/http/validate.ts -> shared/http/errors.ts',
]);

interface Edge {
  from: string;
  to: string;
}

const posix = (path: string) => path.split(sep).join('/');

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT_DIR, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** `./x.js` as the file it names (x.ts, x.tsx, or as written). */
function resolveTarget(from: string, specifier: string): string {
  const written = posix(relative(ROOT_DIR, resolve(ROOT_DIR, dirname(from), specifier)));
  const stem = written.replace(/\.js$/, '');
  for (const candidate of [`${stem}.ts`, `${stem}.tsx`, written]) if (existsSync(join(ROOT_DIR, candidate))) return candidate;
  return written;
}

/** Every relative import of the project's own code under functions/ and shared/. */
function edges(): Edge[] {
  return ['functions', 'shared'].flatMap(sourceFiles).flatMap((from) =>
    ts
      .preProcessFile(readFileSync(join(ROOT_DIR, from), 'utf8'), true, true)
      .importedFiles.map((file) => file.fileName)
      .filter((specifier) => specifier.startsWith('.'))
      .map((specifier) => ({ from, to: resolveTarget(from, specifier) })),
  );
}

const isTest = (path: string) => /\.test\.tsx?$/.test(path);
/** functions/<capability>/… → the capability; the domain, roots and anything outside functions/ → null. */
const capabilityOf = (path: string) => {
  const parts = path.split('/');
  return parts[0] === 'functions' && parts.length > 2 && !path.startsWith(DOMAIN) ? (parts[1] as string) : null;
};
const inDomain = (path: string) => path.startsWith(DOMAIN);
const show = (list: Edge[]) => list.map((edge) => `${edge.from} -> ${edge.to}`);

describe('import rules (docs/ARCHITECTURE.md)', () => {
  const all = edges();

  it('reads the imports it judges (a file with known imports is seen)', () => {
    // Guards the rules below against passing because nothing was read.
    expect(show(all)).toContain('functions/node.ts -> functions/app.ts');
    expect(show(all)).toContain('shared/build-services.ts -> shared/services.ts');
  });

  it('shared/ imports nothing from functions/', () => {
    expect(show(all.filter((edge) => edge.from.startsWith('shared/') && edge.to.startsWith('functions/')))).toEqual([]);
  });

  it('code that ships imports nothing from test/, bench/ or scripts/', () => {
    const outside = all.filter((edge) => !isTest(edge.from) && /^(test|bench|scripts)\//.test(edge.to));
    expect(show(outside)).toEqual([]);
  });

  it('a capability never imports an entry point or the app (only tests may build the whole app)', () => {
    const upward = all.filter((edge) => capabilityOf(edge.from) && !isTest(edge.from) && ROOTS.has(edge.to));
    expect(show(upward)).toEqual([]);
  });

  it('shared/ has no new import circle (types included; services.ts is on none)', () => {
    const next = new Map<string, string[]>();
    for (const edge of all) {
      if (edge.from.startsWith('shared/') && edge.to.startsWith('shared/')) next.set(edge.from, [...(next.get(edge.from) ?? []), edge.to]);
    }
    const circles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        // Written from its first file in name order, so that a circle reads the same wherever it was entered.
        const ring = path.slice(path.indexOf(file));
        const start = ring.indexOf([...ring].sort()[0] as string);
        const rotated = [...ring.slice(start), ...ring.slice(0, start)];
        circles.push([...rotated, rotated[0]].join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const to of next.get(file) ?? []) visit(to, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of next.keys()) visit(file, []);
    expect(circles.filter((circle) => !KNOWN_CIRCLES.has(circle))).toEqual([]);
  });

  it('capabilities reach the actions domain only through its public face (functions/actions/index.ts)', () => {
    const behind = all.filter(
      (edge) => edge.from.startsWith('functions/') && !inDomain(edge.from) && inDomain(edge.to) && edge.to !== PUBLIC_FACE,
    );
    expect(show(behind)).toEqual([]);
    // Guards the rule against passing because nothing reaches the domain.
    expect(show(all)).toContain('functions/approve/index.ts -> functions/actions/index.ts');
  });

  it('the actions domain imports only itself and shared/ (no capability, no entry point)', () => {
    const outward = all.filter((edge) => inDomain(edge.from) && edge.to.startsWith('functions/') && !inDomain(edge.to));
    expect(show(outward)).toEqual([]);
  });

  it('no new import from one capability into another (the known ones are listed, to shrink)', () => {
    const crossing = all.filter((edge) => {
      const from = capabilityOf(edge.from);
      const to = capabilityOf(edge.to);
      return from !== null && to !== null && from !== to;
    });
    expect(show(crossing).filter((edge) => !KNOWN_CROSS_CAPABILITY.has(edge))).toEqual([]);
  });

  it('the known crossings all still exist (a removed one leaves the list, so it only shrinks)', () => {
    const seen = new Set(show(all));
    expect([...KNOWN_CROSS_CAPABILITY].filter((edge) => !seen.has(edge))).toEqual([]);
  });
});
