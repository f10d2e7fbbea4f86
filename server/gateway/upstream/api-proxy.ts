/**
 * Forwards an allowlisted API request to ElizaOS on the gateway's own origin, so the
 * service worker can read RateLimit-* and Retry-After (ElizaOS exposes none of them
 * cross-origin). It names the real client in X-Forwarded-For, adds the server's API key
 * itself, passes on no browser credentials, drops `secrets` (and stack traces) from every
 * JSON answer and every CORS header, restates the server's budget beside the gateway's,
 * and turns an unreachable server into a JSON 502.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import httpProxy from 'http-proxy';
import { sendError } from '../door/errors';
import type { GatewayOptions } from '../options';
import { isUpstreamRateLimitHeader, readUpstreamBudget, writeBudgetStanding, writeUpstreamBudget } from './rate-limit-headers';
import type { UpstreamBudget } from '../budget/upstream-budget';
import { parseForBrowser } from './strip-secrets';

/** Hop-by-hop and length headers that must not be copied from a rewritten answer. */
export const DROPPED_ANSWER_HEADERS = new Set(['content-length', 'content-encoding', 'transfer-encoding', 'connection', 'keep-alive']);

/** Browser headers that have no business upstream: credentials, and where the page was. */
const DROPPED_REQUEST_HEADERS = [
  'cookie',
  'authorization',
  'proxy-authorization',
  'origin',
  'referer',
  'forwarded',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
];

/** The address a request came from, with IPv4-mapped IPv6 unwrapped (::ffff:1.2.3.4 → 1.2.3.4). */
export function clientAddress(address: string | undefined): string {
  const text = address ?? '';
  return text.startsWith('::ffff:') && text.includes('.') ? text.slice('::ffff:'.length) : text;
}

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

/** The headers the gateway itself sets on every request to ElizaOS, for the client `client`. */
export function gatewayRequestHeaders(options: GatewayOptions, client: string): Record<string, string> {
  return {
    'x-forwarded-for': clientAddress(client),
    // Answers are rewritten (secrets dropped), so ask for them uncompressed; the
    // gateway compresses what it sends to the browser itself.
    'accept-encoding': 'identity',
    ...(options.gatewaySecret ? { 'x-purl-gateway': options.gatewaySecret } : {}),
    ...(options.upstreamApiKey ? { 'x-api-key': options.upstreamApiKey } : {}),
  };
}

/** What the proxy tells about the budget on each answer: the budget, and who asked. */
interface BudgetContext {
  budget: UpstreamBudget;
  client: string;
}

/**
 * Copies the upstream's headers that may reach a browser, notes the budget the answer
 * states, and restates it: a shared budget as the gateway's estimate (which counts the
 * requests still under way) with the user's share and the tier; a user's own budget
 * (the embedded server) as this answer states it, for this user only.
 */
function copyAnswerHeaders(answer: IncomingMessage, res: ServerResponse, dropped: ReadonlySet<string>, context?: BudgetContext): void {
  for (const [name, value] of browserHeaders(answer.headers, dropped)) res.setHeader(name, value);
  const now = Date.now();
  const info = readUpstreamBudget(answer.headers, now);
  if (!context) {
    writeUpstreamBudget(info, res, now);
    return;
  }
  const { budget, client } = context;
  budget.note(info, now, answer.statusCode);
  writeUpstreamBudget(budget.shared ? budget.last(now) : info, res, now);
  writeBudgetStanding(budget, client, res, now);
}

/**
 * Adds to one route's JSON answer what the gateway itself says there (the create-session
 * answer's push token): the new body, or undefined to leave it as it is.
 */
export type AddToAnswer = (status: number, body: unknown) => unknown;

/** Buffers a JSON answer, removes secrets (and adds what `add` says), and sends it on with the upstream's status and headers. */
function relayJson(answer: IncomingMessage, res: ServerResponse, maxBytes: number, budget?: BudgetContext, add?: AddToAnswer): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  answer.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > maxBytes) {
      tooLarge = true;
      answer.destroy();
      return;
    }
    chunks.push(chunk);
  });
  answer.on('error', () => {
    if (!tooLarge) sendError(res, 502, 'UPSTREAM_BROKEN', "The agent's server stopped halfway through an answer. Purl will try again.");
  });
  answer.on('close', () => {
    if (tooLarge) {
      sendError(res, 502, 'UPSTREAM_TOO_LARGE', `The agent's server sent an answer larger than ${maxBytes} bytes, which the gateway does not pass on.`);
    }
  });
  answer.on('end', () => {
    const raw = Buffer.concat(chunks);
    let body = raw;
    try {
      const clean = parseForBrowser(raw, (answer.statusCode ?? 500) >= 400);
      const added = add?.(answer.statusCode ?? 502, clean.value);
      if (added !== undefined) body = Buffer.from(JSON.stringify(added));
      else if (clean.stripped) body = Buffer.from(JSON.stringify(clean.value));
    } catch {
      // Not valid JSON: pass it on unchanged; the worker validates and rejects it.
    }
    copyAnswerHeaders(answer, res, DROPPED_ANSWER_HEADERS, budget);
    res.setHeader('Content-Length', body.length);
    res.writeHead(answer.statusCode ?? 502);
    res.end(body);
  });
}

export interface ForwardOptions {
  /** Path and query to request upstream (the allowlist's canonical form). */
  path: string;
  /** Who the client is (req.ip), named upstream in X-Forwarded-For. */
  client: string;
  /** A POST body already read and checked by the gateway. */
  body?: Buffer;
  /** What the gateway adds to this request's JSON answer. */
  addToAnswer?: AddToAnswer;
}

export interface ApiProxy {
  forward(req: IncomingMessage, res: ServerResponse, options: ForwardOptions): void;
  close(): void;
}

export function createApiProxy(options: GatewayOptions, budget?: UpstreamBudget): ApiProxy {
  const proxy = httpProxy.createProxyServer({
    target: options.upstream.href,
    changeOrigin: true,
    proxyTimeout: options.upstreamTimeoutMs,
    selfHandleResponse: true,
  });

  // http-proxy reports its own proxyTimeout as a plain "socket hang up": remember
  // which requests timed out so the browser gets a 504 rather than a 502.
  const timedOut = new WeakSet<IncomingMessage>();
  /** Who each forwarded request is for, and the settling of what it spends of the budget once it is under way. */
  const clients = new WeakMap<IncomingMessage, string>();
  const additions = new WeakMap<IncomingMessage, AddToAnswer>();
  const spent = new WeakMap<IncomingMessage, () => void>();
  const settle = (req: IncomingMessage) => spent.get(req)?.();

  proxy.on('proxyReq', (proxyReq, req, res) => {
    // Set here, not in req.headers: compression() reads the browser's Accept-Encoding
    // from req when the answer starts, and would otherwise send it uncompressed.
    proxyReq.setHeader('accept-encoding', 'identity');
    if (budget) {
      // Counted as it leaves, so the estimate is current before its answer comes back.
      spent.set(req, budget.spend(Date.now()));
      res.on('close', () => {
        if (res.writableFinished) settle(req);
        // Given up before its answer: ElizaOS may still count it (it was sent, and its limiter
        // runs as a request arrives, however late it reads it), so it stays among the requests
        // under way, which every statement of the budget is taken less, until it would have
        // timed out. Settled at once, a busy ElizaOS's later statements overstated what was left.
        else setTimeout(() => settle(req), options.upstreamTimeoutMs).unref();
      });
    }
    proxyReq.on('timeout', () => timedOut.add(req));
    // A browser that gave up (the worker's request timeout) ends its upstream request
    // too. http-proxy only does that on 'aborted', which Node no longer emits for a
    // request whose body had arrived (every GET), so each abandoned request would hold a
    // connection to ElizaOS open until the upstream timeout.
    res.on('close', () => {
      if (!res.writableFinished) proxyReq.destroy();
    });
  });

  proxy.on('proxyRes', (answer, req, res) => {
    settle(req);
    const context = budget ? { budget, client: clients.get(req) ?? '' } : undefined;
    if (isJson(answer)) {
      relayJson(answer, res, options.maxJsonBytes, context, additions.get(req));
      return;
    }
    copyAnswerHeaders(answer, res, new Set(['connection', 'keep-alive']), context);
    res.writeHead(answer.statusCode ?? 502);
    answer.pipe(res);
  });

  proxy.on('error', (_error, req, target) => {
    settle(req);
    if (!('writeHead' in target)) {
      target.destroy();
      return;
    }
    const res = target as ServerResponse;
    if (timedOut.has(req)) {
      sendError(res, 504, 'UPSTREAM_TIMEOUT', "The agent's server took too long to answer. Purl will try again.");
      return;
    }
    sendError(res, 502, 'UPSTREAM_UNAVAILABLE', "The agent's server isn't reachable right now. Purl will try again shortly.");
  });

  return {
    forward(req, res, forward) {
      // Headers the upstream gets: ours overwrite whatever the browser sent under those names.
      for (const name of DROPPED_REQUEST_HEADERS) delete req.headers[name];
      delete req.headers['x-purl-gateway'];
      delete req.headers['x-api-key'];
      // All but Accept-Encoding, which goes on the upstream request alone (above).
      const { 'accept-encoding': _identity, ...upstreamHeaders } = gatewayRequestHeaders(options, forward.client);
      Object.assign(req.headers, upstreamHeaders);
      clients.set(req, forward.client);
      if (forward.addToAnswer) additions.set(req, forward.addToAnswer);
      req.url = forward.path;
      if (forward.body) {
        req.headers['content-length'] = String(forward.body.length);
        delete req.headers['transfer-encoding'];
        proxy.web(req, res, { buffer: Readable.from([forward.body]) });
      } else {
        proxy.web(req, res);
      }
    },
    close() {
      proxy.close();
    },
  };
}
