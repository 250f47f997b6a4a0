import postgres from 'postgres';
import { inject } from 'vitest';
import { randomHex } from '../../shared/telemetry/correlation.js';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A fresh database on this machine's Postgres for one test file, dropped afterwards. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject('postgresUrl');
  const name = `myca_t_${randomHex(6)}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await sql.unsafe(`drop database if exists ${name} with (force)`);
      await sql.end();
    },
  };
}
