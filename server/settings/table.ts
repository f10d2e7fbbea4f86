/**
 * Every environment variable the server side reads (the gateway, the embedded ElizaOS,
 * the cluster runner, and the client settings the gateway serves at /config.json),
 * declared once: its parser, its default, what it does, and who reads it. README.md's
 * settings table is checked against this one (readme.test.ts). Variables not named here
 * (PATH, HOME, …) are not settings and are ignored.
 */
import { configRules, defaultConfig, type PurlConfig } from '../../src/shared/config';
import { checkedText, filePath, host, hostList, integer, oneOf, onOff, type Parser, pathList, positive, proxyList, secret, text, url } from './parsers';

/** Which part of Purl reads a variable. */
export type SettingPart = 'gateway' | 'embedded' | 'cluster' | 'client' | 'dev';

/** One declared variable. `fallback` is what an unset or empty one gives (undefined: not set). */
export interface Setting<T, D extends T | undefined = T | undefined> {
  readonly parser: Parser<T>;
  readonly fallback: D;
  readonly parts: readonly SettingPart[];
  /** One line: what it does. */
  readonly description: string;
  /** Set by Purl for its own processes (or by npm), not by users: left out of the README. */
  readonly internal: boolean;
  /** The default as the README words it, when the value alone does not say it. */
  readonly shown: string | undefined;
}

interface More {
  internal?: boolean;
  shown?: string;
}

function setting<T, D extends T | undefined>(
  parts: SettingPart | readonly SettingPart[],
  parser: Parser<T>,
  fallback: D,
  description: string,
  more: More = {},
): Setting<T, D> {
  return { parser, fallback, parts: typeof parts === 'string' ? [parts] : parts, description, internal: more.internal ?? false, shown: more.shown };
}

const internal = { internal: true } as const;
const HTTP = ['http', 'https'];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'log', 'progress', 'success', 'debug', 'trace'] as const;

/** A client setting (src/shared/config.ts): unset stays out of /config.json, and the browser keeps its default. */
function client(key: keyof PurlConfig, description: string) {
  const rule = configRules[key];
  return setting('client', integer(rule.min, rule.max), undefined, description, { shown: `\`${defaultConfig[key]}\`` });
}

const GATEWAY = {
  PORT: setting('gateway', integer(0, 65_535, 'a port number'), 5174, "the gateway's port (the cluster's entry)"),
  HOST: setting(['gateway', 'cluster'], host(), '127.0.0.1', "the gateway's address (the cluster's entry)"),
  PURL_ALLOWED_HOSTS: setting(['gateway', 'cluster'], hostList(), undefined, 'host names the gateway answers to besides IP addresses, localhost and HOST'),
  TLS_CERT_FILE: setting('gateway', filePath(), undefined, 'a certificate (PEM): the gateway then serves https'),
  TLS_KEY_FILE: setting('gateway', filePath(), undefined, "the certificate's key (PEM)"),
  TRUST_PROXY: setting('gateway', proxyList(), false, 'proxies whose X-Forwarded-For names the client', { shown: 'unset' }),
  API_RATE_LIMIT_REQUESTS: setting('gateway', integer(1, 100_000), 500, 'API requests per minute per client'),
  MEMORY_API_RATE_LIMIT_REQUESTS: setting('gateway', integer(1, 100_000), 200, 'memories reads per minute per client'),
  WS_MAX_CONNECTIONS_PER_IP: setting('gateway', integer(1, 10_000), 10, 'open push streams per client'),
  GATEWAY_MAX_BODY_BYTES: setting('gateway', integer(1024, 2 * 1024 * 1024), 64 * 1024, 'the largest request body a browser may post'),
  ELIZA_SERVER_URL: setting(
    ['gateway', 'embedded'],
    url(HTTP, 'http://127.0.0.1:3000'),
    undefined,
    'an existing ElizaOS server; unset starts the embedded one',
  ),
  ELIZA_SERVER_AUTH_TOKEN: setting('gateway', secret(), undefined, "that server's API key, sent as X-API-KEY by the gateway only"),
  GATEWAY_UPSTREAM_TIMEOUT: setting('gateway', positive(), 60_000, 'ms before an unanswered API request gets a 504'),
  GATEWAY_MAX_JSON_BYTES: setting('gateway', positive(), 64 * 1024 * 1024, 'the largest JSON answer the gateway passes on'),
  GATEWAY_CACHE_TTL: setting('gateway', integer(0, 3_600_000), undefined, 'ms the edge answers everyone from its last read (0: no edge)', {
    shown: '`10000` (`0` with the embedded server)',
  }),
  GATEWAY_CACHE_MAX_BYTES: setting('gateway', positive(), 64 * 1024 * 1024, 'the most the edge keeps'),
  PURL_SYNC_ROUTE: setting('gateway', onOff(), true, 'the one-request delta sync route'),
  PURL_PUSH: setting('gateway', onOff(), true, 'the push route and the upstream socket'),
  PURL_SOCKET_SEND: setting('gateway', onOff(), true, "users' messages over the upstream socket"),
  PURL_CHAT_EDGE: setting('gateway', onOff(), undefined, 'chat reads answered from what the upstream socket heard', { shown: '`on` (`off` with `REDIS_URL`)' }),
  REDIS_URL: setting(
    ['gateway', 'cluster'],
    url(['redis', 'rediss'], 'redis://127.0.0.1:6379', true),
    undefined,
    'the Redis the gateways of a cluster share state on',
  ),
  PURL_SHARED_BUDGET: setting('gateway', onOff(), true, "one estimate of a stock ElizaOS's budget across the gateways on REDIS_URL"),
  PURL_AUTH: setting(['gateway', 'cluster'], oneOf(['device']), 'device', 'how people are told apart: `device`, each browser profile a person of its own'),
  PURL_PUSH_SECRET: setting('gateway', secret(32), undefined, 'the key of the push tokens; unset: a random one kept in PURL_DATA_DIR'),
  PURL_DATA_DIR: setting(
    ['gateway', 'embedded', 'cluster'],
    filePath(),
    '.purl-data',
    "the embedded ElizaOS's database, the push key, the identities, HAProxy's socket",
  ),
  PURL_GATEWAY_SECRET: setting(['gateway', 'embedded'], secret(), undefined, 'proves to the embedded server that a request comes from the gateway', internal),
  PURL_INSTANCE_NAME: setting('gateway', text(), undefined, "a cluster instance's name, shown in /health", internal),
  PURL_DIST_DIR: setting('gateway', filePath(), 'dist', 'the built app the gateway serves', internal),
};

const EMBEDDED = {
  ELIZA_PORT: setting('embedded', integer(0, 65_535, 'a port number'), 0, "the embedded ElizaOS's port (0: a free one)", { shown: 'a free port' }),
  ELIZA_CHARACTER: setting('embedded', pathList(), undefined, 'character files, comma-separated, one agent each'),
  ELIZA_LOG_LEVEL: setting('embedded', oneOf(LOG_LEVELS), 'warn', "the embedded ElizaOS's log level"),
  POSTGRES_URL: setting(
    'embedded',
    checkedText(url(['postgres', 'postgresql'], 'postgres://user:password@127.0.0.1:5432/eliza', true)),
    undefined,
    "the embedded ElizaOS's database on PostgreSQL instead of PGlite",
  ),
  OPENAI_API_KEY: setting('embedded', secret(), undefined, "OpenAI's (or a compatible server's) key: the agents' model"),
  OPENAI_BASE_URL: setting('embedded', url(HTTP, 'http://127.0.0.1:8080/v1'), undefined, 'the OpenAI-compatible server', {
    shown: '`https://api.openai.com/v1`',
  }),
  OPENAI_LARGE_MODEL: setting('embedded', text(), undefined, 'its large model', { shown: '`gpt-5-mini`' }),
  OPENAI_SMALL_MODEL: setting('embedded', text(), undefined, 'its small model', { shown: '`gpt-5-nano`' }),
  OPENAI_EMBEDDING_MODEL: setting('embedded', text(), undefined, 'its embedding model', { shown: "the plugin's" }),
  OPENAI_EMBEDDING_DIMENSIONS: setting('embedded', text(), undefined, "its embeddings' size", { shown: "the plugin's" }),
  OPENAI_EMBEDDING_URL: setting('embedded', url(HTTP, 'http://127.0.0.1:8080/v1'), undefined, 'another server for the embeddings'),
  OPENAI_EMBEDDING_API_KEY: setting('embedded', secret(), undefined, "that server's key"),
  ANTHROPIC_API_KEY: setting('embedded', secret(), undefined, "Anthropic's key: the agents' model"),
  ANTHROPIC_BASE_URL: setting('embedded', url(HTTP, 'https://api.anthropic.com/v1'), undefined, "Anthropic's API", { shown: '`https://api.anthropic.com/v1`' }),
  ANTHROPIC_LARGE_MODEL: setting('embedded', text(), undefined, 'its large model', { shown: '`claude-sonnet-4-20250514`' }),
  ANTHROPIC_SMALL_MODEL: setting('embedded', text(), undefined, 'its small model', { shown: '`claude-3-5-haiku-20241022`' }),
  OLLAMA_API_ENDPOINT: setting('embedded', url(HTTP, 'http://127.0.0.1:11434'), undefined, "an Ollama: the agents' model"),
  OLLAMA_LARGE_MODEL: setting('embedded', text(), undefined, 'its large model', { shown: '`gemma3`' }),
  OLLAMA_SMALL_MODEL: setting('embedded', text(), undefined, 'its small model', { shown: '`gemma3`' }),
  OLLAMA_EMBEDDING_MODEL: setting('embedded', text(), undefined, 'its embedding model', { shown: "the plugin's" }),
  ELIZA_HOST: setting('embedded', host(), '127.0.0.1', "the embedded ElizaOS's address, always loopback", internal),
  PURL_ELIZA_STOCK: setting('embedded', oneOf(['true', 'false']), 'false', 'ElizaOS without Purl middleware (tests of a stock server)', internal),
  INIT_CWD: setting('embedded', filePath(), undefined, 'the folder npm was typed in (set by npm): relative character paths start there', internal),
};

const OTHERS = {
  PURL_INSTANCES: setting('cluster', integer(1, 8), 3, 'npm run cluster: how many gateway processes HAProxy balances'),
  FRONTEND_POLL_INTERVAL: client('memoriesPollMs', "ms between polls of the agent's memories"),
  FRONTEND_SESSION_POLL_INTERVAL: client('chatPollMs', 'ms between polls of the open chat'),
  FRONTEND_CACHE_TTL: client('cacheTtlMs', 'ms a cached answer counts as fresh'),
  FRONTEND_MAX_CONCURRENT: client('maxConcurrent', 'requests in flight at once per browser'),
  MESSAGE_MIN_INTERVAL: client('messageMinIntervalMs', 'minimum ms between sent messages'),
  CIRCUIT_BREAKER_THRESHOLD: client('breakerThreshold', 'consecutive failures that stop all requests for a while'),
  CIRCUIT_BREAKER_TIMEOUT: client('breakerTimeoutMs', 'ms before one probe request is tried after that'),
  FRONTEND_REQUEST_TIMEOUT: client('requestTimeoutMs', 'ms the service worker waits for an answer'),
  PURL_DEV_GATEWAY: setting('dev', text(), undefined, "npm run dev: the gateway Vite's dev server sends /api to (set by server/start.ts)", internal),
};

/** The table: every server-side variable, by name. */
export const SETTINGS = { ...GATEWAY, ...EMBEDDED, ...OTHERS } as const;

export type SettingName = keyof typeof SETTINGS;

/** The value a setting reads as: its parser's, or undefined when it has no default and is unset. */
type ValueOf<S> = S extends Setting<infer T, infer D> ? (undefined extends D ? T | undefined : T) : never;

/** Every setting, read and checked. */
export type Settings = { readonly [K in SettingName]: ValueOf<(typeof SETTINGS)[K]> };
