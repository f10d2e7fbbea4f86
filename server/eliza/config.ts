/**
 * Reads the embedded server's settings from its environment. Pure: takes the
 * environment and working directory, returns values or throws a RangeError whose
 * message is one sentence fit for stderr.
 */
import { isIP } from 'node:net';
import path from 'node:path';
import { characterPaths } from './character-file';
import { chooseModel, type ModelChoice } from './model-provider';

/** Settings of the embedded ElizaOS server. */
export interface ElizaConfig {
  /** `ELIZA_PORT`: where the server listens. */
  readonly port: number;
  /** `ELIZA_HOST`: the address the server binds (default 127.0.0.1). */
  readonly host: string;
  /** `PURL_DATA_DIR`, absolute (default `.purl-data` under the working directory). */
  readonly dataDir: string;
  /** `<dataDir>/eliza`: PGlite's database and the seed marker. */
  readonly elizaDataDir: string;
  /** `PURL_GATEWAY_SECRET`, if any: proves a request comes from Purl's gateway. */
  readonly gatewaySecret: string | undefined;
  /** `ELIZA_SERVER_AUTH_TOKEN`, if any: ElizaOS then wants it as `X-API-KEY` on `/api`. */
  readonly authToken: string | undefined;
  /** How this process and its agent reach the server, e.g. `http://127.0.0.1:3901`. */
  readonly baseUrl: string;
  /**
   * `PURL_ELIZA_STOCK=true`: run ElizaOS as people run it themselves, without Purl's
   * client-address middleware, so a gateway in front is one client to it (for tests of
   * the deployment most users have).
   */
  readonly stock: boolean;
  /**
   * `ELIZA_CHARACTER`: the character files to run, one agent each (absolute), or
   * undefined for the built-in Purl.
   */
  readonly characterFiles: readonly string[] | undefined;
  /** The model behind every agent, from the provider variables (see model-provider.ts). */
  readonly model: ModelChoice;
  /** `POSTGRES_URL`: ElizaOS's database on PostgreSQL (with the `vector` extension) instead of PGlite. */
  readonly postgresUrl: string | undefined;
}

/** POSTGRES_URL, checked: a postgres:// or postgresql:// URL naming a host, or unset. */
export function parsePostgresUrl(raw: string | undefined): string | undefined {
  const value = optional(raw);
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new RangeError('POSTGRES_URL must be a URL such as postgres://user:password@127.0.0.1:5432/eliza, but it is not one.');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new RangeError(`POSTGRES_URL must start with postgres:// or postgresql://, but it starts with ${url.protocol}//.`);
  }
  if (!url.hostname) throw new RangeError('POSTGRES_URL names no host.');
  return value;
}

function parsePort(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') {
    throw new RangeError('ELIZA_PORT is not set: give it the port (1-65535) the ElizaOS server should listen on.');
  }
  const port = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`ELIZA_PORT must be an integer from 1 to 65535, but it is ${JSON.stringify(raw)}.`);
  }
  return port;
}

function parseHost(raw: string | undefined): string {
  const host = raw?.trim() || '127.0.0.1';
  if (host !== 'localhost' && isIP(host) === 0) {
    throw new RangeError(`ELIZA_HOST must be an IP address or "localhost", but it is ${JSON.stringify(raw)}.`);
  }
  return host;
}

/**
 * The URL to reach a server bound to `host`: a wildcard or `localhost` is reached at
 * 127.0.0.1, so the agent's self-calls and the ready line name one definite address.
 */
function reachableBaseUrl(host: string, port: number): string {
  if (host === 'localhost' || host === '0.0.0.0' || host === '::') return `http://127.0.0.1:${port}`;
  return isIP(host) === 6 ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}

/** An optional variable: unset and empty both mean "not configured". */
function optional(raw: string | undefined): string | undefined {
  return raw === undefined || raw === '' ? undefined : raw;
}

/**
 * Reads the configuration from `env`. Throws an error with a one-sentence message when
 * `ELIZA_PORT`, `ELIZA_HOST`, `ELIZA_CHARACTER` or a provider URL is unusable.
 */
export function readElizaConfig(env: NodeJS.ProcessEnv, cwd: string): ElizaConfig {
  const port = parsePort(env.ELIZA_PORT);
  const host = parseHost(env.ELIZA_HOST);
  const dataDir = path.resolve(cwd, optional(env.PURL_DATA_DIR) ?? '.purl-data');
  return {
    port,
    host,
    dataDir,
    elizaDataDir: path.join(dataDir, 'eliza'),
    gatewaySecret: optional(env.PURL_GATEWAY_SECRET),
    authToken: optional(env.ELIZA_SERVER_AUTH_TOKEN),
    baseUrl: reachableBaseUrl(host, port),
    stock: env.PURL_ELIZA_STOCK === 'true',
    characterFiles: characterPaths(env.ELIZA_CHARACTER, cwd),
    model: chooseModel(env),
    postgresUrl: parsePostgresUrl(env.POSTGRES_URL),
  };
}
