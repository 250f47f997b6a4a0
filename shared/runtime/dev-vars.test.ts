import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { documentedVariables, readDevVars, workerVariables } from './dev-vars.js';
import { ROOT_DIR } from './node-config.js';

describe('the variables npm run dev hands the worker', () => {
  it('takes every documented provider variable; the environment wins over .dev.vars, the runner over both', () => {
    const names = documentedVariables(ROOT_DIR);
    for (const name of ['OPENAI_API_KEY', 'OPENAI_BASE_URL', 'GEMINI_BASE_URL', 'AZURE_OPENAI_API_VERSION', 'LOCAL_LLM_BASE_URL']) {
      expect(names).toContain(name);
    }
    const vars = workerVariables({
      names,
      devVars: { GEMINI_API_KEY: 'from-dev-vars', OPENAI_API_KEY: 'from-dev-vars', DATABASE_URL: 'postgres://dev-vars/db' },
      env: { OPENAI_API_KEY: 'from-env', AZURE_OPENAI_API_VERSION: '2024-10-21', PORT: '9999', MYCA_DATA_DIR: '/x', UNLISTED: 'no' },
      computed: { DATABASE_URL: 'postgres://embedded/db', MYCA_ENV: 'development' },
    });
    expect(vars).toEqual({
      GEMINI_API_KEY: 'from-dev-vars',
      OPENAI_API_KEY: 'from-env',
      AZURE_OPENAI_API_VERSION: '2024-10-21',
      DATABASE_URL: 'postgres://embedded/db',
      MYCA_ENV: 'development',
    });
  });

  it('reads .dev.vars in dotenv syntax, and nothing when it is absent', () => {
    const dir = mkdtempSync(join(tmpdir(), 'myca-devvars-'));
    try {
      expect(readDevVars(dir)).toEqual({});
      writeFileSync(join(dir, '.dev.vars'), '# secrets\nOPENAI_API_KEY="sk-x"\nLOCAL_LLM_BASE_URL=http://127.0.0.1:11434/v1\n');
      expect(readDevVars(dir)).toEqual({ OPENAI_API_KEY: 'sk-x', LOCAL_LLM_BASE_URL: 'http://127.0.0.1:11434/v1' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
