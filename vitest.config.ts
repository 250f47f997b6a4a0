import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['functions/**/*.test.ts', 'shared/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // The last lines of a run list what was skipped and why (test/support/skip-reporter.ts).
    reporters: ['default', './test/support/skip-reporter.ts'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    // Two cores: workerd instances and Postgres share them; more forks only add contention.
    maxWorkers: 2,
    pool: 'forks',
  },
});
