/**
 * The gateway's options, made from the settings table (server/settings/) once at start.
 * A bad value stops the start with one sentence that names it.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { type ConfigOverrides, configRules, type PurlConfig } from '../../src/shared/config';
import { OptionsError, readSettings } from '../settings/read';
import type { Settings } from '../settings/table';
import type { SignIn } from './people/identities';
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
  /** PURL_AUTH: how people are told apart (server/gateway/people/people.ts). */
  signIn: SignIn;
  /** Where the identities are kept across restarts (`<PURL_DATA_DIR>/people.json`); without it, in memory only. */
  identityFile?: string;
}

export { OptionsError };

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

function readTls(certFile: string | undefined, keyFile: string | undefined): GatewayOptions['tls'] {
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) throw new OptionsError('TLS_CERT_FILE and TLS_KEY_FILE go together: set both to serve HTTPS, or neither.');
  const read = (file: string, name: string): Buffer => {
    try {
      return fs.readFileSync(file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new OptionsError(`${name} names ${file}, which cannot be read (${code}).`, name);
    }
  };
  return { cert: read(certFile, 'TLS_CERT_FILE'), key: read(keyFile, 'TLS_KEY_FILE') };
}

/** What /config.json serves: the client settings that are set (the browser keeps its defaults for the rest). */
function clientOverrides(settings: Settings): ConfigOverrides {
  const overrides: ConfigOverrides = {};
  for (const key of Object.keys(configRules) as (keyof PurlConfig)[]) {
    const value = settings[configRules[key].env as keyof Settings];
    if (typeof value === 'number') overrides[key] = value;
  }
  return overrides;
}

/** Host names from PURL_ALLOWED_HOSTS and HOST when it is a name, lower-case, once each. */
function allowedHostNames(listed: readonly string[] | undefined, host: string): string[] {
  const names = [...(listed ?? [])];
  if (net.isIP(host) === 0) names.push(host.toLowerCase());
  return [...new Set(names)];
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
function readKey(secret: string | undefined, dataDir: string): Buffer {
  try {
    return readPushKey(secret, path.resolve(dataDir));
  } catch (error) {
    if (error instanceof PushKeyError) throw new OptionsError(error.message, 'PURL_PUSH_SECRET');
    throw error;
  }
}

export interface ReadOptionsResult {
  options: GatewayOptions;
  /** Sentences about settings to print at start; a bad value throws instead, so none today. */
  warnings: string[];
}

/**
 * What a caller may give instead of reading it: tests pass a push key, so nothing is written
 * under the working directory (then the identities are kept in memory only, too).
 */
export interface GivenOptions {
  pushKey?: Buffer;
}

/** The options that are one setting each, read from the table. */
function fromTable(s: Settings, upstream: URL): GatewayOptions {
  return {
    host: s.HOST,
    port: s.PORT,
    upstream,
    upstreamTimeoutMs: s.GATEWAY_UPSTREAM_TIMEOUT,
    distDir: path.resolve(s.PURL_DIST_DIR),
    clientConfig: clientOverrides(s),
    maxJsonBytes: s.GATEWAY_MAX_JSON_BYTES,
    maxBodyBytes: s.GATEWAY_MAX_BODY_BYTES,
    allowedHosts: allowedHostNames(s.PURL_ALLOWED_HOSTS, s.HOST),
    trustProxy: s.TRUST_PROXY,
    apiRequestsPerMinute: s.API_RATE_LIMIT_REQUESTS,
    memoryRequestsPerMinute: s.MEMORY_API_RATE_LIMIT_REQUESTS,
    maxConnectionsPerClient: s.WS_MAX_CONNECTIONS_PER_IP,
    edgeTtlMs: s.GATEWAY_CACHE_TTL ?? (s.PURL_GATEWAY_SECRET ? 0 : DEFAULT_EDGE_TTL_MS),
    edgeMaxBytes: s.GATEWAY_CACHE_MAX_BYTES,
    syncRoute: s.PURL_SYNC_ROUTE,
    push: s.PURL_PUSH,
    socketSend: s.PURL_SOCKET_SEND,
    // One of several gateways (REDIS_URL) does not see the messages posted through the others: its chat edge would miss them.
    chatEdge: s.PURL_CHAT_EDGE ?? !s.REDIS_URL,
    sharedBudget: s.PURL_SHARED_BUDGET,
    signIn: s.PURL_AUTH,
  };
}

/**
 * Reads the gateway's options from the settings table (server/settings/); `upstream` may
 * be given when the caller started ElizaOS itself. A bad value throws an {@link OptionsError}.
 */
export function readGatewayOptions(env: NodeJS.ProcessEnv, upstream?: URL, given: GivenOptions = {}): ReadOptionsResult {
  const s = readSettings(env);
  const target = upstream ?? s.ELIZA_SERVER_URL;
  if (!target) throw new OptionsError('ELIZA_SERVER_URL is not set, so the gateway has no ElizaOS server to talk to.', 'ELIZA_SERVER_URL');
  const options = fromTable(s, target);
  if (options.syncRoute) options.clientConfig = { ...options.clientConfig, syncRoute: true };
  // With the edge on, a sync's agent list and memories cost ElizaOS nothing per request: the
  // chat poll may bring them along. With it off (the embedded server's default) each sync
  // reads both upstream, so the chat poll keeps to its own route.
  if (options.syncRoute && options.edgeTtlMs > 0) options.clientConfig = { ...options.clientConfig, syncChat: true };
  const tls = readTls(s.TLS_CERT_FILE, s.TLS_KEY_FILE);
  if (tls) options.tls = tls;
  if (options.push) {
    options.pushKey = given.pushKey ?? readKey(s.PURL_PUSH_SECRET, s.PURL_DATA_DIR);
    options.clientConfig = { ...options.clientConfig, push: true };
  }
  if (s.ELIZA_SERVER_AUTH_TOKEN) options.upstreamApiKey = s.ELIZA_SERVER_AUTH_TOKEN;
  if (s.PURL_GATEWAY_SECRET) options.gatewaySecret = s.PURL_GATEWAY_SECRET;
  if (s.REDIS_URL) options.redisUrl = s.REDIS_URL;
  if (s.PURL_INSTANCE_NAME) options.instanceName = s.PURL_INSTANCE_NAME.slice(0, 64);
  if (!given.pushKey) options.identityFile = path.resolve(s.PURL_DATA_DIR, 'people.json');
  return { options, warnings: [] };
}
