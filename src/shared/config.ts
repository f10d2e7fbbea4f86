/**
 * Run-time settings: defaults for normal and high-load mode, and the overrides the
 * gateway serves at /config.json. The gateway reads them from its environment through
 * the server's settings table (server/settings/table.ts, by {@link configRules}), where a
 * bad value stops the start; the worker checks /config.json again here, where a rejected
 * value is reported and the default kept.
 */

export interface PurlConfig {
  /** Memories poll interval, ms (FRONTEND_POLL_INTERVAL). */
  memoriesPollMs: number;
  /** Open chat poll interval, ms (FRONTEND_SESSION_POLL_INTERVAL). */
  chatPollMs: number;
  /** Cache freshness window, ms (FRONTEND_CACHE_TTL). */
  cacheTtlMs: number;
  /** Requests in flight at once, origin-wide (FRONTEND_MAX_CONCURRENT). */
  maxConcurrent: number;
  /** Minimum gap between sent chat messages, ms (MESSAGE_MIN_INTERVAL). */
  messageMinIntervalMs: number;
  /** Consecutive failures that open the breaker (CIRCUIT_BREAKER_THRESHOLD). */
  breakerThreshold: number;
  /** How long the breaker stays open before one probe, ms (CIRCUIT_BREAKER_TIMEOUT). */
  breakerTimeoutMs: number;
  /** How long one request may run before the worker gives up on it, ms (FRONTEND_REQUEST_TIMEOUT). */
  requestTimeoutMs: number;
}

export const defaultConfig: Readonly<PurlConfig> = Object.freeze({
  memoriesPollMs: 60_000,
  chatPollMs: 5_000,
  cacheTtlMs: 30_000,
  maxConcurrent: 3,
  messageMinIntervalMs: 2_000,
  breakerThreshold: 5,
  breakerTimeoutMs: 300_000,
  requestTimeoutMs: 30_000,
});

/**
 * High-load mode from normal-mode settings: polls and the freshness window 1.5× longer
 * (the chat poll 1.4×: 5 s → 7 s), the message interval 1.5×, one request fewer in
 * flight (at least one). The breaker and the request timeout are the same in both modes. Deriving it means a
 * server that sets FRONTEND_POLL_INTERVAL still gets a slower high-load mode.
 */
export function highLoadOf(normal: Readonly<PurlConfig>): PurlConfig {
  return {
    ...normal,
    memoriesPollMs: Math.round(normal.memoriesPollMs * 1.5),
    chatPollMs: Math.round(normal.chatPollMs * 1.4),
    cacheTtlMs: Math.round(normal.cacheTtlMs * 1.5),
    maxConcurrent: Math.max(1, normal.maxConcurrent - 1),
    messageMinIntervalMs: Math.round(normal.messageMinIntervalMs * 1.5),
  };
}

export const highLoadConfig: Readonly<PurlConfig> = Object.freeze(highLoadOf(defaultConfig));

interface Rule {
  env: string;
  min: number;
  max: number;
}

/** Each setting's environment variable and accepted range (whole numbers). */
export const configRules: Readonly<Record<keyof PurlConfig, Rule>> = Object.freeze({
  memoriesPollMs: { env: 'FRONTEND_POLL_INTERVAL', min: 1_000, max: 86_400_000 },
  chatPollMs: { env: 'FRONTEND_SESSION_POLL_INTERVAL', min: 1_000, max: 86_400_000 },
  cacheTtlMs: { env: 'FRONTEND_CACHE_TTL', min: 0, max: 86_400_000 },
  maxConcurrent: { env: 'FRONTEND_MAX_CONCURRENT', min: 1, max: 16 },
  messageMinIntervalMs: { env: 'MESSAGE_MIN_INTERVAL', min: 0, max: 600_000 },
  breakerThreshold: { env: 'CIRCUIT_BREAKER_THRESHOLD', min: 1, max: 1_000 },
  breakerTimeoutMs: { env: 'CIRCUIT_BREAKER_TIMEOUT', min: 5_000, max: 86_400_000 },
  requestTimeoutMs: { env: 'FRONTEND_REQUEST_TIMEOUT', min: 1_000, max: 600_000 },
});

/**
 * What /config.json may set: the settings above, and what the gateway offers besides the
 * plain API — `syncRoute`: its one-request delta sync (server/gateway/edge/sync.ts); `syncChat`:
 * its edge answers a sync's agent list and memories from what it keeps (costing ElizaOS
 * nothing per request), so the chat poll may ask for them beside the chat's messages;
 * `push`: its push route (docs/push.md) brings the agent's replies as they are made. A
 * gateway from before them says nothing, and the worker reads the plain routes.
 */
export type ConfigOverrides = Partial<PurlConfig> & { syncRoute?: boolean; syncChat?: boolean; push?: boolean };

/** The agent list changes rarely: it may be this many times older than the memories (worker and gateway alike). */
export const AGENTS_WINDOW_FACTOR = 10;

export interface ParsedOverrides {
  overrides: ConfigOverrides;
  /** One sentence per rejected value. */
  errors: string[];
}

function checkValue(key: keyof PurlConfig, raw: unknown, label: string): number | string {
  const rule = configRules[key];
  const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    return `${label} must be a whole number, got ${JSON.stringify(raw)}; the default is kept`;
  }
  if (value < rule.min || value > rule.max) {
    return `${label} must be between ${rule.min} and ${rule.max}, got ${value}; the default is kept`;
  }
  return value;
}

function collect(entries: Iterable<[keyof PurlConfig, unknown, string]>): ParsedOverrides {
  const overrides: ConfigOverrides = {};
  const errors: string[] = [];
  for (const [key, raw, label] of entries) {
    if (raw === undefined) continue;
    const checked = checkValue(key, raw, label);
    if (typeof checked === 'string') errors.push(checked);
    else overrides[key] = checked;
  }
  return { overrides, errors };
}

const configKeys = Object.keys(configRules) as (keyof PurlConfig)[];

/** Validates the body of /config.json (the worker's side); unknown keys are ignored. */
export function parseOverrides(body: unknown): ParsedOverrides {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { overrides: {}, errors: ['/config.json is not a JSON object; the defaults are kept'] };
  }
  const record = body as Record<string, unknown>;
  const parsed = collect(configKeys.map((key) => [key, record[key], `config.${key}`]));
  const offers = {
    syncRoute: 'the plain routes are used',
    syncChat: 'the chat poll reads its own route',
    push: 'replies come by the chat poll',
  } as const;
  for (const [key, otherwise] of Object.entries(offers) as Array<[keyof typeof offers, string]>) {
    const value = record[key];
    if (value === true) parsed.overrides[key] = true;
    else if (value !== undefined && value !== false) parsed.errors.push(`config.${key} must be true or false, got ${JSON.stringify(value)}; ${otherwise}`);
  }
  return parsed;
}

/** The settings in force: the server's overrides on the defaults, then the mode applied. */
export function resolveConfig(overrides: ConfigOverrides, highLoad: boolean): PurlConfig {
  const { syncRoute: _offered, syncChat: _withChat, push: _push, ...settings } = overrides;
  const normal = { ...defaultConfig, ...settings };
  return highLoad ? highLoadOf(normal) : normal;
}
