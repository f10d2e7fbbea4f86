/**
 * A throwaway PostgreSQL (Debian's postgresql package, with the `vector` extension that
 * plugin-sql's tables need) for the tests of ElizaOS on PostgreSQL: a cluster of its own
 * in a temporary folder, on a free loopback port, run as the `postgres` user when this
 * process is root (PostgreSQL refuses root), with a database owned by a role that is not
 * a superuser and the extension made in it beforehand (only a superuser may make it).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../eliza-process';

export const NO_POSTGRES_MESSAGE =
  "PostgreSQL with the vector extension is not installed. On Debian, as root: `bash scripts/install-postgres.sh` (PostgreSQL, and pgvector built from Debian's source package).";

export interface PostgresServer {
  /** postgres://purl:…@127.0.0.1:<port>/purl */
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** The newest PostgreSQL's programs folder (Debian keeps each major version apart), or undefined. */
export function postgresBin(): string | undefined {
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base) ? fs.readdirSync(base).filter((name) => /^\d+$/.test(name)) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  return newest && fs.existsSync(path.join(base, newest, 'bin', 'initdb')) ? path.join(base, newest, 'bin') : undefined;
}

/** Whether a PostgreSQL with the vector extension is installed here. */
export function hasPostgresWithVector(): boolean {
  const bin = postgresBin();
  if (!bin) return false;
  const version = path.basename(path.dirname(bin));
  return fs.existsSync(`/usr/share/postgresql/${version}/extension/vector.control`);
}

/** Runs a PostgreSQL program as the postgres user when we are root; throws with its output when it fails. */
function run(program: string, args: string[]): string {
  const asRoot = process.getuid?.() === 0;
  const [command, commandArgs] = asRoot ? ['runuser', ['-u', 'postgres', '--', program, ...args]] : [program, args];
  const result = spawnSync(command, commandArgs, { encoding: 'utf8', cwd: os.tmpdir() });
  if (result.status !== 0) throw new Error(`${path.basename(program)} failed (${result.status}): ${`${result.stdout}${result.stderr}`.trim().slice(-1_000)}`);
  return result.stdout;
}

export async function startPostgresServer(): Promise<PostgresServer> {
  const bin = postgresBin();
  if (!bin || !hasPostgresWithVector()) throw new Error(NO_POSTGRES_MESSAGE);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-pg-'));
  const data = path.join(dir, 'data');
  if (process.getuid?.() === 0) spawnSync('chown', ['postgres:postgres', dir]);
  const port = await freePort();
  const password = `purl-${Math.random().toString(36).slice(2)}`;
  run(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  run(path.join(bin, 'pg_ctl'), [
    '-D',
    data,
    '-w',
    '-l',
    path.join(dir, 'log'),
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
    'start',
  ]);
  const psql = (database: string, sql: string) =>
    run(path.join(bin, 'psql'), ['-h', dir, '-p', String(port), '-U', 'postgres', '-d', database, '-v', 'ON_ERROR_STOP=1', '-c', sql]);
  try {
    psql('postgres', `CREATE ROLE purl LOGIN PASSWORD '${password}' NOSUPERUSER`);
    psql('postgres', 'CREATE DATABASE purl OWNER purl');
    psql('purl', 'CREATE EXTENSION vector');
  } catch (error) {
    run(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop']);
    throw error;
  }
  return {
    url: `postgres://purl:${password}@127.0.0.1:${port}/purl`,
    port,
    async stop() {
      try {
        run(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
