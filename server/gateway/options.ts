/**
 * The gateway's settings, read from the environment and checked once at start.
 * A bad value stops the start with one sentence that names it.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import proxyAddr from 'proxy-addr';
import { overridesFromEnv, type ConfigOverrides } from '../../src/shared/config';
import { PushKeyError, readPushKey } from './push/push-token';

export interface GatewayOptions {
  host: string;
  port: number;
  /** The ElizaOS server every /api and /socket.io request goes to. */
  upstream: URL;
  /** ElizaOS's ELIZA_SERVER_AUTH_TOKEN, added as X-API-KEY upstream; never sent to browsers. */
  upstreamApiKey?: string;
  /** Proves to the embedded server that X-Forwarded-For comes from this gateway. */
  gatewaySecret?: string;
  /** How long an upstream answer may take before the browser gets a 504, ms. */
  upstreamTimeoutMs: number;
  /** The built app. */
  distDir: string;
  /** What /config.json serves. */
  clientConfig: ConfigOverrides;
  /** Largest JSON answer the gateway will inspect for secrets, bytes. */
  maxJsonBytes: number;
  /** Largest request body a browser may post, bytes (GATEWAY_MAX_BODY_BYTES). */
  maxBodyBytes: number;
  /**
   * Host names the gateway answers to besides IP literals and localhost
   * (PURL_ALLOWED_HOSTS, plus HOST when it is a name): anything else is refused, which
   * defeats DNS rebinding.
   */
  allowedHosts: string[];
  /** Express's `trust proxy` (TRUST_PROXY): whose X-Forwarded-For names the client. */
  trustProxy: string | number | false;
  /** Requests per minute per client to /api (API_RATE_LIMIT_REQUESTS). */
  apiRequestsPerMinute: number;
  /** Memories reads per minute per client (MEMORY_API_RATE_LIMIT_REQUESTS). */
  memoryRequestsPerMinute: number;
  /** Push connections per client (WS_MAX_CONNECTIONS_PER_IP), for the real-time route. */
  maxConnectionsPerClient: number;
  /** How long the edge serves a kept answer without reading upstream, ms (GATEWAY_CACHE_TTL; 0: no edge). */
  edgeTtlMs: number;
  /** The most the edge keeps, bytes (GATEWAY_CACHE_MAX_BYTES). */
  edgeMaxBytes: number;
  /**
   * Whether the gateway serves its one-request delta sync route (server/gateway/edge/sync.ts)
   * and offers it in /config.json (PURL_SYNC_ROUTE; on unless "off"). Off, the gateway
   * answers as one from before the route: the worker then reads the plain routes.
   */
  syncRoute: boolean;
  /**
   * Whether the gateway serves its push route, `GET /api/purl/push` (server/gateway/push/push.ts,
   * docs/push.md), and offers it in /config.json (PURL_PUSH; on unless "off").
   */
  push: boolean;
  /**
   * Whether users' messages go over the upstream socket when they can (PURL_SOCKET_SEND;
   * on unless "off"; docs/push.md, "Messages over the socket"). Needs push on: the socket is push's.
   */
  socketSend: boolean;
  /**
   * Whether a known session's chat read is answered from what the gateway heard on its
   * upstream socket when that is provably everything (PURL_CHAT_EDGE; on unless "off";
   * server/gateway/edge/chat-edge.ts, docs/push.md). Needs push on: the socket is push's.
   */
  chatEdge: boolean;
  /**
   * Whether the instances on REDIS_URL keep one estimate of a stock ElizaOS's budget
   * (PURL_SHARED_BUDGET; on unless "off"; server/gateway/redis/shared-budget.ts). Off for instances
   * that reach ElizaOS from addresses of their own: its limiter then gives each a budget.
   */
  sharedBudget: boolean;
  /** The key push tokens are made with (PURL_PUSH_SECRET, or `<PURL_DATA_DIR>/push-secret`); set when push is on. */
  pushKey?: Buffer;
  /** TLS_CERT_FILE and TLS_KEY_FILE, read: the gateway then serves HTTPS. */
  tls?: { cert: Buffer; key: Buffer };
  /** REDIS_URL: the Redis the instances of a cluster share their limits and state through (docs/cluster.md). */
  redisUrl?: URL;
  /** PURL_INSTANCE_NAME: which instance of a cluster this is, shown in /health (`npm run cluster` names them gateway1…). */
  instanceName?: string;
}

export class OptionsError extends Error {
  override readonly name = 'OptionsError';
}

function parsePort(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new OptionsError(`${name} must be a port number from 0 to 65535, got "${raw}".`);
  }
  return port;
}

function parseUrl(raw: string, name: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OptionsError(`${name} must be an http(s) URL such as http://127.0.0.1:3000, got "${raw}".`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new OptionsError(`${name} must use http or https, got "${raw}".`);
  }
  return url;
}

/** A REDIS_URL as it may be repeated in an error: whatever sits before an `@` (a password) left out. */
function redactedRedisUrl(raw: string): string {
  return raw.replace(/^([^/]*\/\/)?[^@/]*@/, (_match, scheme: string | undefined) => `${scheme ?? ''}…@`);
}

function parseRedisUrl(raw: string): URL {
  const shown = redactedRedisUrl(raw);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OptionsError(`REDIS_URL must be a redis:// or rediss:// URL such as redis://127.0.0.1:6379, got "${shown}".`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new OptionsError(`REDIS_URL must use redis or rediss, got "${shown}".`);
  if (!url.hostname) throw new OptionsError(`REDIS_URL names no host, got "${shown}".`);
  return url;
}

function parseWholeNumber(raw: string | undefined, name: string, fallback: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > max) throw new OptionsError(`${name} must be a whole number from 0 to ${max}, got "${raw}".`);
  return value;
}

/**
 * The edge's window in front of an external server. 10 s: it adds at most 10 s to the
 * worker's own staleness (its FRONTEND_CACHE_TTL of 30 s and memories poll of 60 s), a
 * sixth more at worst, while however many users poll, ElizaOS sees at most 6 memories
 * reads a minute per agent and 6 agent-list reads, together under a fifth of a stock
 * server's 66 requests a minute.
 *
 * In front of the embedded server (PURL_GATEWAY_SECRET set) the edge is off by default:
 * there every user has a budget of their own, so one shared read would be spent from one
 * user's budget and its RateLimit restated to everyone else, whose workers pace themselves
 * by it. The edge is for the shared budget of a server that counts the gateway as one client.
 */
export const DEFAULT_EDGE_TTL_MS = 10_000;

/** The edge's bound: room for a few agents' histories of tens of thousands of memories. */
export const DEFAULT_EDGE_MAX_BYTES = 64 * 1024 * 1024;

function parsePositive(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new OptionsError(`${name} must be a positive whole number, got "${raw}".`);
  return value;
}

/** A whole number in range; anything else stops the start with a sentence (issue 21). */
function wholeNumberOr(raw: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (Number.isInteger(value) && value >= min && value <= max) return value;
  throw new OptionsError(`${name} must be a whole number from ${min} to ${max}, got "${raw}".`);
}

/**
 * TRUST_PROXY in express's syntax: a hop count, or addresses, subnets and the names
 * loopback, linklocal and uniquelocal, comma-separated. `true` (trust everyone) is
 * refused: then any browser could name itself anyone and take another user's budget.
 */
function parseTrustProxy(raw: string | undefined): string | number | false {
  if (raw === undefined || raw.trim() === '' || raw === 'false') return false;
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim());
  if (raw.trim() === 'true') {
    throw new OptionsError(
      'TRUST_PROXY=true would let any client forge its address; list your proxies instead (for example TRUST_PROXY=loopback or TRUST_PROXY=10.0.0.5).',
    );
  }
  const list = raw
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  try {
    proxyAddr.compile(list);
  } catch {
    throw new OptionsError(`TRUST_PROXY must be addresses, subnets, loopback, linklocal or uniquelocal separated by commas, or a hop count; got "${raw}".`);
  }
  return list.join(',');
}

function readTls(env: NodeJS.ProcessEnv): GatewayOptions['tls'] {
  const certFile = env['TLS_CERT_FILE'];
  const keyFile = env['TLS_KEY_FILE'];
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) throw new OptionsError('TLS_CERT_FILE and TLS_KEY_FILE go together: set both to serve HTTPS, or neither.');
  const read = (file: string, name: string): Buffer => {
    try {
      return fs.readFileSync(file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new OptionsError(`${name} names ${file}, which cannot be read (${code}).`);
    }
  };
  return { cert: read(certFile, 'TLS_CERT_FILE'), key: read(keyFile, 'TLS_KEY_FILE') };
}

function parseOnOff(raw: string | undefined, name: string, fallback: boolean): boolean {
  if (raw === undefined || raw === '') return fallback;
  const value = raw.trim().toLowerCase();
  if (value === 'on' || value === 'true' || value === '1') return true;
  if (value === 'off' || value === 'false' || value === '0') return false;
  throw new OptionsError(`${name} must be "on" or "off", got "${raw}".`);
}

/** Host names from PURL_ALLOWED_HOSTS and HOST, lower-case, without ports or brackets. */
function allowedHostNames(env: NodeJS.ProcessEnv, host: string): string[] {
  const names = (env['PURL_ALLOWED_HOSTS'] ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  if (net.isIP(host) === 0 && host !== '') names.push(host.toLowerCase());
  return [...new Set(names.map((name) => name.replace(/:\d+$/, '').replace(/^\[|\]$/g, '')))];
}

/** True when HOST only listens on this machine. */
function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/**
 * The warning for a gateway that other machines reach over plain http: their browsers
 * give Purl no service worker there (no secure context), so it cannot work for them.
 */
export function exposureWarning(options: Pick<GatewayOptions, 'host' | 'tls'>): string | undefined {
  if (isLoopbackHost(options.host) || options.tls) return undefined;
  return (
    `warning: HOST=${options.host} serves other machines over plain http, where browsers give Purl no service worker ` +
    '(it needs a secure context): the page will say so and not work there. Set TLS_CERT_FILE and TLS_KEY_FILE to serve https ' +
    '(the README\'s "Security" section shows how to make a certificate).'
  );
}

/** The push key, last: every other setting is checked before a key file may be made. */
function readKey(env: NodeJS.ProcessEnv): Buffer {
  try {
    return readPushKey(env['PURL_PUSH_SECRET'], path.resolve(env['PURL_DATA_DIR'] || '.purl-data'));
  } catch (error) {
    if (error instanceof PushKeyError) throw new OptionsError(error.message);
    throw error;
  }
}

export interface ReadOptionsResult {
  options: GatewayOptions;
  /** Sentences about settings to print at start; a bad value throws instead, so none today. */
  warnings: string[];
}

/** What a caller may give instead of reading it: tests pass a push key, so nothing is written under the working directory. */
export interface GivenOptions {
  pushKey?: Buffer;
}

/** Reads the gateway's options; `upstream` may be given when the caller started ElizaOS itself. */
export function readGatewayOptions(env: NodeJS.ProcessEnv, upstream?: URL, given: GivenOptions = {}): ReadOptionsResult {
  const upstreamRaw = env['ELIZA_SERVER_URL'];
  const target = upstream ?? (upstreamRaw ? parseUrl(upstreamRaw, 'ELIZA_SERVER_URL') : undefined);
  if (!target) throw new OptionsError('ELIZA_SERVER_URL is not set, so the gateway has no ElizaOS server to talk to.');
  const { overrides, errors } = overridesFromEnv(env);
  // A rejected client setting stops the start like any other bad value (issue 21), with its sentence.
  if (errors[0] !== undefined) throw new OptionsError(`${errors[0].replace(/; the default is kept$/, '')}.`);
  const warnings: string[] = [];
  const host = env['HOST'] || '127.0.0.1';
  const options: GatewayOptions = {
    host,
    port: parsePort(env['PORT'], 'PORT', 5174),
    upstream: target,
    upstreamTimeoutMs: parsePositive(env['GATEWAY_UPSTREAM_TIMEOUT'], 'GATEWAY_UPSTREAM_TIMEOUT', 60_000),
    distDir: path.resolve(env['PURL_DIST_DIR'] || 'dist'),
    clientConfig: overrides,
    maxJsonBytes: parsePositive(env['GATEWAY_MAX_JSON_BYTES'], 'GATEWAY_MAX_JSON_BYTES', 64 * 1024 * 1024),
    maxBodyBytes: wholeNumberOr(env['GATEWAY_MAX_BODY_BYTES'], 'GATEWAY_MAX_BODY_BYTES', 64 * 1024, 1024, 2 * 1024 * 1024),
    allowedHosts: allowedHostNames(env, host),
    trustProxy: parseTrustProxy(env['TRUST_PROXY']),
    apiRequestsPerMinute: wholeNumberOr(env['API_RATE_LIMIT_REQUESTS'], 'API_RATE_LIMIT_REQUESTS', 500, 1, 100_000),
    memoryRequestsPerMinute: wholeNumberOr(env['MEMORY_API_RATE_LIMIT_REQUESTS'], 'MEMORY_API_RATE_LIMIT_REQUESTS', 200, 1, 100_000),
    maxConnectionsPerClient: wholeNumberOr(env['WS_MAX_CONNECTIONS_PER_IP'], 'WS_MAX_CONNECTIONS_PER_IP', 10, 1, 10_000),
    edgeTtlMs: parseWholeNumber(env['GATEWAY_CACHE_TTL'], 'GATEWAY_CACHE_TTL', env['PURL_GATEWAY_SECRET'] ? 0 : DEFAULT_EDGE_TTL_MS, 3_600_000),
    edgeMaxBytes: parsePositive(env['GATEWAY_CACHE_MAX_BYTES'], 'GATEWAY_CACHE_MAX_BYTES', DEFAULT_EDGE_MAX_BYTES),
    syncRoute: parseOnOff(env['PURL_SYNC_ROUTE'], 'PURL_SYNC_ROUTE', true),
    push: parseOnOff(env['PURL_PUSH'], 'PURL_PUSH', true),
    socketSend: parseOnOff(env['PURL_SOCKET_SEND'], 'PURL_SOCKET_SEND', true),
    // One of several gateways (REDIS_URL) does not see the messages posted through the others: its chat edge would miss them.
    chatEdge: parseOnOff(env['PURL_CHAT_EDGE'], 'PURL_CHAT_EDGE', !env['REDIS_URL']),
    sharedBudget: parseOnOff(env['PURL_SHARED_BUDGET'], 'PURL_SHARED_BUDGET', true),
  };
  if (options.syncRoute) options.clientConfig = { ...options.clientConfig, syncRoute: true };
  // With the edge on, a sync's agent list and memories cost ElizaOS nothing per request: the
  // chat poll may bring them along. With it off (the embedded server's default) each sync
  // reads both upstream, so the chat poll keeps to its own route.
  if (options.syncRoute && options.edgeTtlMs > 0) options.clientConfig = { ...options.clientConfig, syncChat: true };
  const tls = readTls(env);
  if (tls) options.tls = tls;
  if (options.push) {
    options.pushKey = given.pushKey ?? readKey(env);
    options.clientConfig = { ...options.clientConfig, push: true };
  }
  if (env['ELIZA_SERVER_AUTH_TOKEN']) options.upstreamApiKey = env['ELIZA_SERVER_AUTH_TOKEN'];
  if (env['PURL_GATEWAY_SECRET']) options.gatewaySecret = env['PURL_GATEWAY_SECRET'];
  if (env['REDIS_URL']) options.redisUrl = parseRedisUrl(env['REDIS_URL']);
  if (env['PURL_INSTANCE_NAME']) options.instanceName = env['PURL_INSTANCE_NAME'].slice(0, 64);
  return { options, warnings };
}
