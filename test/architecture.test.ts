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
 * Today's imports from one capability into another (functions/<a>/… → functions/<b>/…). The list
 * only shrinks: the actions domain (issue 17, item 1) gives action-execute one public face and
 * removes most of these. Any import not listed here fails the test below.
 */
const KNOWN_CROSS_CAPABILITY = new Set([
  'functions/agent-run/index.ts -> functions/action-execute/index.ts',
  'functions/agent-run/loop.ts -> functions/action-execute/index.ts',
  'functions/agent-run/loop.ts -> functions/action-execute/recovery.ts',
  'functions/agent-run/loop.ts -> functions/action-execute/store.ts',
  'functions/agent-run/loop.ts -> functions/chat-route/contract.ts',
  'functions/agent-run/loop.ts -> functions/chat-route/index.ts',
  'functions/agent-run/store.ts -> functions/chat-route/contract.ts',
  'functions/agent-run/tools.ts -> functions/action-execute/actions/index.ts',
  'functions/approvals/index.tsx -> functions/action-execute/index.ts',
  'functions/approvals/index.tsx -> functions/action-execute/store.ts',
  'functions/approvals/index.tsx -> functions/agent-run/index.ts',
  'functions/approvals/index.tsx -> functions/approve/index.ts',
  'functions/approvals/views/types.ts -> functions/action-execute/store.ts',
  'functions/approve/index.ts -> functions/action-execute/actions/index.ts',
  'functions/approve/index.ts -> functions/action-execute/index.ts',
  'functions/approve/index.ts -> functions/action-execute/run.ts',
  'functions/approve/index.ts -> functions/action-execute/store.ts',
  'functions/approve/index.ts -> functions/agent-run/index.ts',
  'functions/audit/index.ts -> functions/action-execute/index.ts',
  // A test that makes another agent's run, to show a run_id is tied to its caller.
  'functions/action-execute/security.test.ts -> functions/agent-run/store.ts',
  // The OpenAPI document describes every capability's request and response schemas.
  'functions/openapi/document.ts -> functions/action-execute/index.ts',
  'functions/openapi/document.ts -> functions/action-execute/store.ts',
  'functions/openapi/document.ts -> functions/agent-run/index.ts',
  'functions/openapi/document.ts -> functions/approve/index.ts',
  'functions/openapi/document.ts -> functions/chat-route/contract.ts',
  'functions/openapi/document.ts -> functions/health/index.ts',
  'functions/openapi/document.ts -> functions/ready/index.ts',
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
/** functions/<capability>/… → the capability; roots and anything outside functions/ → null. */
const capabilityOf = (path: string) => {
  const parts = path.split('/');
  return parts[0] === 'functions' && parts.length > 2 ? (parts[1] as string) : null;
};
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

  it('shared/ has no import circle (types included)', () => {
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
    expect(circles).toEqual([]);
  });

  it('no new import from one capability into another (the known ones are listed, to shrink)', () => {
    const crossing = all.filter((edge) => {
      const from = capabilityOf(edge.from);
      const to = capabilityOf(edge.to);
      return from !== null && to !== null && from !== to;
    });
    expect(show(crossing).filter((edge) => !KNOWN_CROSS_CAPABILITY.has(edge))).toEqual([]);
  });
});
