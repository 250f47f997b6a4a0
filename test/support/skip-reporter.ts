import type { Reporter, TestModule } from 'vitest/node';

/**
 * Says in the last lines of `npm test` which tests were skipped and why, so that a green run with
 * skips never passes for a full one. A test gives its reason with `ctx.skip(condition, reason)`
 * (a skip without one is listed as such). Counted per reason; each test named.
 */
export default class SkipReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const byReason = new Map<string, string[]>();
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const result = test.result();
        if (result.state !== 'skipped') continue;
        // Skipped because another test has `.only`, or a name filter (-t): not a gap in the suite.
        if (test.options.mode === 'skip' && !result.note && process.argv.some((arg) => arg === '-t' || arg.startsWith('--testNamePattern')))
          continue;
        const reason = result.note ?? 'no reason given (skip/skipIf/runIf without ctx.skip(condition, reason))';
        const list = byReason.get(reason) ?? [];
        list.push(`${module.relativeModuleId} › ${test.fullName}`);
        byReason.set(reason, list);
      }
    }
    const total = [...byReason.values()].reduce((sum, list) => sum + list.length, 0);
    if (total === 0) {
      process.stdout.write('\nSkipped: none\n');
      return;
    }
    const lines = ['', `Skipped: ${total} test${total === 1 ? '' : 's'}, and why:`];
    for (const [reason, tests] of byReason) {
      lines.push(`  ${tests.length} × ${reason}`);
      for (const name of tests.slice(0, 5)) lines.push(`      ${name}`);
      if (tests.length > 5) lines.push(`      … and ${tests.length - 5} more`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}
