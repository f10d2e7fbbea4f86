/**
 * The gateway's one HTTP client to ElizaOS: one pooled undici `Pool` per upstream, and
 * one `send` that every request to it takes (the proxy route, the edge's reads, the sync
 * route's chat read, the socket sender's heartbeats and isolation check, the health ping).
 *
 * `send` owns, once, the whole sequence of a request that costs ElizaOS's budget
 * (server/gateway/budget/upstream-budget.ts): the user counted (`byUser`), admission (kept
 * back, it never leaves: the gateway's own refusal, server/gateway/budget/budget-door.ts),
 * spending as it leaves, settling when its answer is in, and the budget the answer states
 * (RateLimit-*, Retry-After) noted. It sets the gateway's request headers (X-Forwarded-For,
 * X-API-KEY, X-Purl-Gateway, Accept-Encoding identity) and never passes on a browser's
 * credentials; it ends a request at `upstreamTimeoutMs` (headers, and any pause in the
 * body) or when `signal` aborts; it reads an answer whole up to `maxJsonBytes`; and every
 * failure is one of five values with a sentence (`FailedRead`), never a throw.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Pool } from 'undici';
import type { Clock } from '../../../src/shared/clock';
import { refusalOf, type Refusal } from '../budget/budget-door';
import type { UpstreamBudget, UpstreamCost } from '../budget/upstream-budget';
import type { GatewayOptions } from '../options';
import { unrefClock } from '../clock';
import { isUpstreamRateLimitHeader, readUpstreamBudget } from './rate-limit-headers';

/** A request that did not bring an answer, as the browser is told it. */
export type FailedRead = { kind: 'failed'; status: 502 | 504; code: string; message: string };
/** An answer read whole. */
export type UpstreamAnswer = { kind: 'answer'; status: number; headers: IncomingHttpHeaders; body: Buffer };
/** What a request brought: an answer read whole, or a failure with its sentence. */
export type UpstreamRead = UpstreamAnswer | FailedRead;
/** A non-JSON answer handed on unread (the proxy pipes it to the browser). */
export type StreamedAnswer = { kind: 'stream'; status: number; headers: IncomingHttpHeaders; body: Readable };

/** The budget's word on a request, at once: kept back (nothing sent), or sent with its answer to come. */
export type Sending<Answer> = Refusal | { kind: 'sent'; answer: Promise<Answer> };

export interface SendRequest {
  /** What it costs ElizaOS's budget; `free` for what its rate limit does not count (its /healthz, outside /api). */
  cost: UpstreamCost | 'free';
  /** On whose behalf (req.ip), named upstream in X-Forwarded-For. */
  client: string;
  /**
   * A user's own request (a proxied one, the sync route's chat read): `client` counts among
   * the users spending the budget, whether or not it goes. The gateway's reads for everyone
   * (the edge, heartbeats, the isolation check) count nobody.
   */
  byUser?: boolean;
  method: 'GET' | 'POST';
  /** Path and query (an allowlisted one, in its canonical form). */
  path: string;
  /** A POST body, already read and checked by the gateway. */
  body?: Buffer;
  /** The validator of the answer the gateway keeps: a 304 may come back. */
  ifNoneMatch?: string;
  /** Ends the request (everyone who waited for it left): the answer is UPSTREAM_ABANDONED. */
  signal?: AbortSignal;
  /** The browser's request headers to pass on (the proxy); credentials, hop-by-hop and the gateway's own names are dropped. */
  headers?: IncomingHttpHeaders;
  /** Hands a non-JSON answer on unread, as a stream (the proxy); a JSON answer is always read whole. */
  stream?: boolean;
}

export interface UpstreamClientOptions {
  options: Pick<GatewayOptions, 'upstream' | 'upstreamTimeoutMs' | 'maxJsonBytes' | 'gatewaySecret' | 'upstreamApiKey'>;
  budget: UpstreamBudget;
  /** The time now, epoch ms (default: the system's). */
  now?: () => number;
  /** Sets the timer that settles an abandoned request (default: setTimeout, unref'd: it keeps no process alive). */
  setTimer?: Clock['setTimer'];
}

export interface UpstreamClient {
  readonly budget: UpstreamBudget;
  /** The clock the client counts the budget by. */
  readonly now: () => number;
  send(request: SendRequest & { stream: true }): Sending<UpstreamRead | StreamedAnswer>;
  send(request: SendRequest): Sending<UpstreamRead>;
  /** Closes the pool's idle connections; requests under way finish first. */
  close(): Promise<void>;
}

/** The gateway's own requests (not made for any browser) are made as this client. */
export const GATEWAY_ITSELF = '127.0.0.1';

/** Hop-by-hop and length headers that must not be copied from a rewritten answer. */
export const DROPPED_ANSWER_HEADERS = new Set(['content-length', 'content-encoding', 'transfer-encoding', 'connection', 'keep-alive']);

/**
 * Browser headers that never go upstream: credentials and where the page was, the
 * gateway's own names (ours replace them), and hop-by-hop and length headers (the pool
 * sets its own).
 */
const DROPPED_REQUEST_HEADERS = new Set([
  'cookie',
  'authorization',
  'proxy-authorization',
  'origin',
  'referer',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
  'x-purl-gateway',
  'x-api-key',
  'accept-encoding',
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'content-length',
  'http2-settings',
]);

const UNAVAILABLE: FailedRead = {
  kind: 'failed',
  status: 502,
  code: 'UPSTREAM_UNAVAILABLE',
  message: "The agent's server isn't reachable right now. Purl will try again shortly.",
};
const TIMEOUT: FailedRead = {
  kind: 'failed',
  status: 504,
  code: 'UPSTREAM_TIMEOUT',
  message: "The agent's server took too long to answer. Purl will try again.",
};
const BROKEN: FailedRead = {
  kind: 'failed',
  status: 502,
  code: 'UPSTREAM_BROKEN',
  message: "The agent's server stopped halfway through an answer. Purl will try again.",
};
/** Nobody waits for the answer any more; the caller answers whoever is left, if anyone. */
const ABANDONED: FailedRead = {
  kind: 'failed',
  status: 502,
  code: 'UPSTREAM_ABANDONED',
  message: "The agent's server took too long to answer. Purl will try again.",
};
const tooLarge = (maxBytes: number): FailedRead => ({
  kind: 'failed',
  status: 502,
  code: 'UPSTREAM_TOO_LARGE',
  message: `The agent's server sent an answer larger than ${maxBytes} bytes, which the gateway does not pass on.`,
});

/** undici's codes for a request that ran out of time: connecting, waiting for headers, or between body chunks. */
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** What a thrown undici error means for the browser; `answered`: the headers had arrived. */
function failureOf(error: unknown, signal: AbortSignal | undefined, answered: boolean): FailedRead {
  if (signal?.aborted) return ABANDONED;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && TIMEOUT_CODES.has(code)) return TIMEOUT;
  return answered ? BROKEN : UNAVAILABLE;
}

/** The address a request came from, with IPv4-mapped IPv6 unwrapped (::ffff:1.2.3.4 → 1.2.3.4). */
export function clientAddress(address: string | undefined): string {
  const text = address ?? '';
  return text.startsWith('::ffff:') && text.includes('.') ? text.slice('::ffff:'.length) : text;
}

/** Whether an answer says it is JSON. */
export function isJson(answer: { headers: IncomingHttpHeaders }): boolean {
  return /\bjson\b/i.test(String(answer.headers['content-type'] ?? ''));
}

/** The upstream's headers that may reach a browser: no CORS, no budget (restated apart), none of `dropped`. */
export function browserHeaders(headers: IncomingHttpHeaders, dropped: ReadonlySet<string>): [string, string | string[]][] {
  return Object.entries(headers).filter(
    (entry): entry is [string, string | string[]] =>
      entry[1] !== undefined && !dropped.has(entry[0]) && !entry[0].startsWith('access-control-') && !isUpstreamRateLimitHeader(entry[0]),
  );
}

/** The headers a request to ElizaOS carries: the browser's that may go (when given), then the gateway's own. */
export function upstreamRequestHeaders(options: UpstreamClientOptions['options'], request: SendRequest): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  if (request.headers) {
    for (const [name, value] of Object.entries(request.headers)) {
      if (value !== undefined && !DROPPED_REQUEST_HEADERS.has(name.toLowerCase())) headers[name.toLowerCase()] = value;
    }
  } else {
    headers['accept'] = 'application/json';
  }
  if (request.ifNoneMatch) headers['if-none-match'] = request.ifNoneMatch;
  headers['x-forwarded-for'] = clientAddress(request.client);
  // Answers are rewritten (secrets dropped), so asked for uncompressed; the gateway
  // compresses what it sends to the browser itself.
  headers['accept-encoding'] = 'identity';
  if (options.gatewaySecret) headers['x-purl-gateway'] = options.gatewaySecret;
  if (options.upstreamApiKey) headers['x-api-key'] = options.upstreamApiKey;
  return headers;
}

/** Reads a body whole, at most `maxBytes`: the answer, or why not. */
async function readWhole(body: Readable, maxBytes: number, signal: AbortSignal | undefined): Promise<{ kind: 'read'; body: Buffer } | FailedRead> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        body.destroy();
        return tooLarge(maxBytes);
      }
      chunks.push(chunk);
    }
  } catch (error) {
    return failureOf(error, signal, true);
  }
  return { kind: 'read', body: Buffer.concat(chunks) };
}

export function createUpstreamClient({ options, budget, now = unrefClock.now, setTimer = unrefClock.setTimer }: UpstreamClientOptions): UpstreamClient {
  const pool = new Pool(options.upstream.origin, {
    headersTimeout: options.upstreamTimeoutMs,
    bodyTimeout: options.upstreamTimeoutMs,
    connect: { timeout: options.upstreamTimeoutMs },
  });

  async function exchange(request: SendRequest, settle: (abandoned: boolean) => void): Promise<UpstreamRead | StreamedAnswer> {
    const { signal } = request;
    let answer: Awaited<ReturnType<Pool['request']>>;
    try {
      answer = await pool.request({
        path: request.path,
        method: request.method,
        headers: upstreamRequestHeaders(options, request),
        body: request.body ?? null,
        signal: signal ?? null,
      });
    } catch (error) {
      settle(signal?.aborted === true);
      return failureOf(error, signal, false);
    }
    settle(false);
    const headers = answer.headers as IncomingHttpHeaders;
    if (request.cost !== 'free') {
      const at = now();
      budget.note(readUpstreamBudget(headers, at), at, answer.statusCode);
    }
    if (request.stream && !isJson({ headers })) return { kind: 'stream', status: answer.statusCode, headers, body: answer.body };
    const read = await readWhole(answer.body, options.maxJsonBytes, signal);
    if (read.kind === 'failed') return read;
    return { kind: 'answer', status: answer.statusCode, headers, body: read.body };
  }

  function send(request: SendRequest): Sending<UpstreamRead | StreamedAnswer> {
    const at = now();
    // A user who asks for the upstream spends the budget, whether or not it is kept back now.
    if (request.byUser) budget.sawClient(request.client, at);
    if (request.signal?.aborted) return { kind: 'sent', answer: Promise.resolve({ ...ABANDONED }) };
    if (request.cost === 'free') return { kind: 'sent', answer: exchange(request, () => undefined) };
    const refusal = refusalOf(budget, request.cost, at);
    if (refusal) return refusal;
    // Counted as it leaves, so the estimate is current before its answer comes back.
    const spent = budget.spend(at);
    const settle = (abandoned: boolean) => {
      if (!abandoned) spent();
      // Given up before its answer: ElizaOS may still count it (it was sent, and its limiter
      // runs as a request arrives, however late it reads it), so it stays among the requests
      // under way, which every statement of the budget is taken less, until it would have
      // timed out. Settled at once, a busy ElizaOS's later statements overstated what was left.
      else setTimer(spent, options.upstreamTimeoutMs);
    };
    return { kind: 'sent', answer: exchange(request, settle) };
  }

  return {
    budget,
    now,
    send: send as UpstreamClient['send'],
    close: () => pool.close(),
  };
}
