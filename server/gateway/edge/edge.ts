/**
 * The edge: the gateway keeps the last good answer of the allowlisted reads everyone
 * makes alike (the agent list, an agent's memories) and answers every browser from it
 * while it is fresh (GATEWAY_CACHE_TTL), so ElizaOS is read once per window for all users
 * together. Requests that miss at the same time share one upstream read (nginx's
 * `proxy_cache_lock`). Each kept answer has a strong ETag (a hash of the bytes sent), so a
 * worker's conditional poll gets a 304 without a body and without an upstream request,
 * whatever its Cache-Control says.
 *
 * Only answers that pass the app's own boundary check are kept (status 200, JSON of the
 * shape src/shared/api.ts reads, `secrets` already dropped); anything else goes to the
 * browsers that waited for it, as the proxy would have passed it, and is not kept.
 * When the upstream's budget runs low, a kept answer is served past its window rather
 * than spend a request on it (`X-Purl-Edge: stale-budget`): the rest is for messages.
 * The memory held is bounded (GATEWAY_CACHE_MAX_BYTES, least recently used out first).
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { browserHeaders, DROPPED_ANSWER_HEADERS, isJson } from '../upstream/client';
import { sendError } from '../door/errors';
import { readUpstreamBudget, writeUpstreamBudget } from '../upstream/rate-limit-headers';
import type { RateLimitInfo } from '../../../src/shared/network';
import { parseForBrowser } from '../upstream/strip-secrets';
import type { UpstreamBudget } from '../budget/upstream-budget';
import type { SharedEdge } from '../redis/shared-edge';
import type { FailedRead, UpstreamRead } from '../upstream/client';

export interface EdgeOptions {
  /** How long a kept answer is served without asking upstream, ms (> 0). */
  ttlMs: number;
  /** The most the kept bodies may weigh together, bytes. */
  maxBytes: number;
  /**
   * One upstream GET of an allowlisted path, on behalf of `client`, conditional on
   * `ifNoneMatch` (the upstream's own validator of the kept answer) when given, ended
   * when `signal` aborts. Never rejects.
   */
  read(path: string, client: string, ifNoneMatch: string | undefined, signal: AbortSignal): Promise<UpstreamRead>;
  budget: UpstreamBudget;
  /** The copies of the other gateway instances on one Redis (server/gateway/redis/shared-edge.ts); none: this instance alone. */
  shared?: SharedEdge;
  /** How long an instance waits for the copy another one is reading before it reads itself, ms (default 5 s). */
  sharedWaitMs?: number;
  now?: () => number;
}

export interface EdgeRequest {
  /** The canonical upstream path and query: the key. */
  path: string;
  client: string;
  /** The app's boundary check of a successful answer: throws when the shape is wrong. */
  check(body: unknown): void;
}

/** What the edge holds and has done, for operators (`/health` → `edge`). */
export interface EdgeStats {
  ttlMs: number;
  maxBytes: number;
  entries: number;
  bytes: number;
  /** Answered from a fresh kept answer. */
  hits: number;
  /** Waited for an upstream read (the coalesced ones included). */
  misses: number;
  /** Of the misses, those that joined a read already under way. */
  coalesced: number;
  upstreamReads: number;
  /** Answered past the window because the upstream's budget was low. */
  staleForBudget: number;
  /** Answered 304 (the browser's copy is current). */
  notModified: number;
  /** Upstream reads answered 304: the kept answer was current and only re-stamped. */
  upstreamNotModified: number;
  /** Misses answered with a copy another instance stored within the window (REDIS_URL): no upstream read. */
  sharedHits: number;
  /**
   * How long a kept answer is served now before it is read again, ms: the window, stretched
   * as the upstream's budget falls (server/gateway/budget/upstream-budget.ts); null while the edge
   * reads nothing of its own (the budget's reserve).
   */
  windowMs: number | null;
}

export interface Edge {
  serve(req: IncomingMessage, res: ServerResponse, request: EdgeRequest): void;
  /**
   * The kept answer for `request` if it is fresh within `ttlMs`, else one upstream read
   * shared with everyone asking meanwhile. For the gateway's own routes
   * (server/gateway/edge/sync.ts), which build their answer from it; `signal` says the browser
   * left (when every browser waiting for a read has left, the read is ended).
   */
  read(request: EdgeRequest, ttlMs: number, signal: AbortSignal): Promise<EdgeOutcome>;
  stats(): EdgeStats;
}

/** A good answer the edge keeps: checked, `secrets` dropped, the same bytes for everyone. */
export interface KeptAnswer {
  body: Buffer;
  etag: string;
  /** The upstream's own validator for it, for a conditional refresh. */
  upstreamEtag?: string;
  headers: [string, string | string[]][];
  storedAt: number;
}

/** What a read gave: a kept answer, an answer to pass on as it came (not kept), or no answer. */
export type EdgeOutcome =
  /** `value`: the answer parsed, when this read brought it (not on a hit), so a caller need not parse it again. */
  { kind: 'kept'; entry: KeptAnswer; value?: unknown } | { kind: 'pass'; status: number; headers: [string, string | string[]][]; body: Buffer } | FailedRead;

interface Flight {
  outcome: Promise<EdgeOutcome>;
  waiting: number;
  abort: AbortController;
}

/** What the browsers that waited would have been told, had any still waited. */
const ABANDONED: FailedRead = {
  kind: 'failed',
  status: 502,
  code: 'UPSTREAM_ABANDONED',
  message: "The agent's server took too long to answer. Purl will try again.",
};

/** Headers of the upstream's own that say nothing true about the edge's copy, or must not be shared. */
const NOT_KEPT = new Set([...DROPPED_ANSWER_HEADERS, 'etag', 'last-modified', 'cache-control', 'age', 'date', 'expires', 'set-cookie', 'vary']);

/** A strong validator for exactly these bytes. */
const etagOf = (body: Buffer): string => `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;

/** If-None-Match matches with the weak comparison (RFC 9110 §13.1.2): `W/` is ignored, `*` matches. */
export function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const text = tag.trim();
    return text === '*' || text.replace(/^W\//, '') === etag;
  });
}

/**
 * Sends an outcome that is not a kept answer: the failure as the gateway's error, or the
 * upstream's answer as it came (its budget, `budget` as last seen at `now`, restated).
 */
export function sendUnkept(res: ServerResponse, outcome: Exclude<EdgeOutcome, { kind: 'kept' }>, budget: RateLimitInfo, now: number): void {
  if (outcome.kind === 'failed') {
    sendError(res, outcome.status, outcome.code, outcome.message);
    return;
  }
  if (res.destroyed || res.headersSent) return;
  for (const [name, value] of outcome.headers) res.setHeader(name, value);
  writeUpstreamBudget(budget, res, now);
  res.setHeader('Content-Length', outcome.body.length);
  res.writeHead(outcome.status);
  res.end(outcome.body);
}

export function createEdge(options: EdgeOptions): Edge {
  const now = options.now ?? Date.now;
  const kept = new Map<string, KeptAnswer>();
  /** Upstream reads under way, by key, with how many browsers wait for each. */
  const flights = new Map<string, Flight>();
  const counts = { hits: 0, misses: 0, coalesced: 0, upstreamReads: 0, staleForBudget: 0, notModified: 0, upstreamNotModified: 0, sharedHits: 0 };
  const shared = options.shared;
  const sharedWaitMs = options.sharedWaitMs ?? 5_000;
  let bytes = 0;

  function forget(key: string): void {
    const entry = kept.get(key);
    if (!entry) return;
    bytes -= entry.body.length;
    kept.delete(key);
  }

  function keep(key: string, entry: KeptAnswer): void {
    forget(key);
    kept.set(key, entry);
    bytes += entry.body.length;
    // A Map iterates in insertion order, and a hit re-inserts: the first is the least recently used.
    for (const oldest of kept.keys()) {
      if (bytes <= options.maxBytes) break;
      forget(oldest);
    }
  }

  /**
   * A copy another instance stored within `ttlMs`, kept here too; undefined when there is
   * none, or when it is not one this instance would have kept itself: Redis is another
   * process's word, so the body passes the same boundary check as an upstream answer (and
   * `secrets` are dropped again), and of its headers only a JSON content type is taken.
   */
  async function sharedCopy(key: string, request: EdgeRequest, ttlMs: number): Promise<KeptAnswer | undefined> {
    const copy = await shared?.get(key);
    const age = copy === undefined ? Number.NaN : now() - copy.storedAt;
    if (!copy || !(age >= 0 && age < ttlMs) || copy.body.length > options.maxBytes) return undefined;
    let body = copy.body;
    try {
      const clean = parseForBrowser(body, false);
      request.check(clean.value);
      if (clean.stripped) body = Buffer.from(JSON.stringify(clean.value));
    } catch {
      return undefined;
    }
    const entry: KeptAnswer = {
      body,
      etag: etagOf(body),
      headers: [['content-type', 'application/json; charset=utf-8']],
      storedAt: copy.storedAt,
      ...(copy.upstreamEtag === undefined ? {} : { upstreamEtag: copy.upstreamEtag }),
    };
    counts.sharedHits++;
    keep(key, entry);
    return entry;
  }

  /**
   * With other instances (REDIS_URL): their fresh copy, else the lease to read for them all,
   * else their copy once the instance holding the lease has stored it. Undefined: read
   * upstream (this instance holds the lease, or waited in vain, or Redis is down).
   */
  async function fromOthers(key: string, request: EdgeRequest, ttlMs: number, signal: AbortSignal): Promise<KeptAnswer | undefined> {
    // With no window (GATEWAY_CACHE_TTL=0) there is nothing to share: every read is upstream's.
    if (!shared || ttlMs <= 0) return undefined;
    const deadline = now() + sharedWaitMs;
    for (;;) {
      const copy = await sharedCopy(key, request, ttlMs);
      if (copy) return copy;
      if (signal.aborted || (await shared.lease(key, sharedWaitMs))) return undefined;
      if (now() >= deadline) return undefined;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** The upstream's answer (or another instance's fresh copy), cleaned, checked, and kept when it is good. */
  async function refresh(key: string, request: EdgeRequest, ttlMs: number, signal: AbortSignal): Promise<EdgeOutcome> {
    const copy = await fromOthers(key, request, ttlMs, signal);
    if (copy) return { kind: 'kept', entry: copy };
    // Everyone who waited left meanwhile: nothing to read for.
    if (signal.aborted) return { ...ABANDONED };
    if (!shared || ttlMs <= 0) return readUpstreamAndKeep(key, request, signal);
    try {
      const outcome = await readUpstreamAndKeep(key, request, signal);
      // For the other instances: kept in Redis long past the window, so a conditional refresh can use its validator.
      if (outcome.kind === 'kept') await shared.put(key, outcome.entry, Math.max(10 * ttlMs, 60_000));
      return outcome;
    } finally {
      await shared.release(key);
    }
  }

  async function readUpstreamAndKeep(key: string, request: EdgeRequest, signal: AbortSignal): Promise<EdgeOutcome> {
    counts.upstreamReads++;
    const held = kept.get(key);
    const read = await options.read(key, request.client, held?.upstreamEtag, signal);
    if (read.kind === 'failed') return read;
    const arrivedAt = now();
    options.budget.note(readUpstreamBudget(read.headers, arrivedAt), arrivedAt);
    // Unchanged upstream: the answer held when asking is current again, with no body to
    // read or check (kept afresh if it was dropped meanwhile to make room).
    if (read.status === 304 && held) {
      counts.upstreamNotModified++;
      held.storedAt = arrivedAt;
      if (kept.get(key) !== held) keep(key, held);
      return { kind: 'kept', entry: held };
    }
    return settle(key, request, read);
  }

  /** Keeps a full upstream answer when it is good; says what to send either way. */
  function settle(key: string, request: EdgeRequest, read: UpstreamRead & { kind: 'answer' }): EdgeOutcome {
    const arrivedAt = now();
    let body = read.body;
    let isGood = false;
    let parsed: unknown;
    if (isJson(read)) {
      try {
        const clean = parseForBrowser(body, read.status >= 400);
        parsed = clean.value;
        if (clean.stripped) body = Buffer.from(JSON.stringify(clean.value));
        if (read.status === 200) {
          request.check(clean.value);
          isGood = true;
        }
      } catch {
        // Broken JSON or the wrong shape: passed on unchanged for the worker to refuse, never kept.
      }
    }
    if (isGood && body.length <= options.maxBytes) {
      const entry: KeptAnswer = { body, etag: etagOf(body), headers: browserHeaders(read.headers, NOT_KEPT), storedAt: arrivedAt };
      const upstreamEtag = read.headers['etag'];
      if (typeof upstreamEtag === 'string') entry.upstreamEtag = upstreamEtag;
      keep(key, entry);
      return { kind: 'kept', entry, value: parsed };
    }
    // A newer answer replaced what was kept, even if it cannot be kept itself.
    if (read.status >= 200 && read.status < 300) forget(key);
    return { kind: 'pass', status: read.status, headers: browserHeaders(read.headers, DROPPED_ANSWER_HEADERS), body };
  }

  function sendKept(req: IncomingMessage, res: ServerResponse, entry: KeptAnswer, how: 'hit' | 'miss' | 'stale-budget'): void {
    if (res.destroyed || res.headersSent) return;
    const at = now();
    res.setHeader('ETag', entry.etag);
    res.setHeader('Age', String(Math.max(0, Math.floor((at - entry.storedAt) / 1000))));
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('X-Purl-Edge', how);
    writeUpstreamBudget(options.budget.last(), res, at);
    if (matchesIfNoneMatch(req.headers['if-none-match'], entry.etag)) {
      counts.notModified++;
      res.writeHead(304);
      res.end();
      return;
    }
    for (const [name, value] of entry.headers) res.setHeader(name, value);
    res.setHeader('Content-Length', entry.body.length);
    res.writeHead(200);
    res.end(entry.body);
  }

  function sendOutcome(req: IncomingMessage, res: ServerResponse, outcome: EdgeOutcome): void {
    if (outcome.kind === 'kept') sendKept(req, res, outcome.entry, 'miss');
    else sendUnkept(res, outcome, options.budget.last(), now());
  }

  /**
   * The kept answer if fresh (or, while the budget is low, kept at all), else the read under
   * way or a new one, with `leave` to call if the browser goes before it settles.
   */
  function obtain(
    request: EdgeRequest,
    ttlMs: number,
  ): { how: 'hit' | 'stale-budget'; entry: KeptAnswer } | { how: 'miss'; outcome: Promise<EdgeOutcome>; leave: () => void } {
    const key = request.path;
    const entry = kept.get(key);
    const at = now();
    if (entry && at - entry.storedAt >= 0 && at - entry.storedAt < ttlMs) {
      counts.hits++;
      kept.delete(key);
      kept.set(key, entry);
      return { how: 'hit', entry };
    }
    // Past the window, a kept answer is still served while the upstream's budget says the
    // edge's own read must wait (its window stretched as the budget falls; no read of its
    // own at all in the reserve), so users' messages get what is left.
    if (entry && at - entry.storedAt >= 0 && at - entry.storedAt < options.budget.edgeWindow(ttlMs, kept.size, at)) {
      counts.staleForBudget++;
      return { how: 'stale-budget', entry };
    }
    counts.misses++;
    let flight = flights.get(key);
    if (flight) counts.coalesced++;
    else {
      const abort = new AbortController();
      // One read for everyone who asks meanwhile.
      const started: Flight = {
        outcome: refresh(key, request, ttlMs, abort.signal).finally(() => {
          if (flights.get(key) === started) flights.delete(key);
        }),
        waiting: 0,
        abort,
      };
      flights.set(key, started);
      flight = started;
    }
    const joined = flight;
    joined.waiting += 1;
    let isGone = false;
    const leave = () => {
      if (isGone) return;
      isGone = true;
      joined.waiting -= 1;
      // Nobody waits any more (they gave up: a hung or crawling server): the read ends, as a
      // forwarded request does when its browser leaves, and the next browser starts afresh
      // instead of joining a read that may hang until the upstream timeout.
      if (joined.waiting === 0 && flights.get(key) === joined) {
        flights.delete(key);
        joined.abort.abort();
      }
    };
    void joined.outcome.then(() => {
      isGone = true;
    });
    return { how: 'miss', outcome: joined.outcome, leave };
  }

  return {
    serve(req, res, request) {
      const got = obtain(request, options.ttlMs);
      if (got.how !== 'miss') {
        sendKept(req, res, got.entry, got.how);
        return;
      }
      res.on('close', () => {
        if (!res.writableFinished) got.leave();
      });
      got.outcome.then(
        (outcome) => sendOutcome(req, res, outcome),
        // refresh() does not reject (its read never does, and checks are caught); were a bug to
        // make it, every waiting browser still gets an answer instead of a hung request.
        () => sendError(res, 502, 'UPSTREAM_UNAVAILABLE', "The agent's server isn't reachable right now. Purl will try again shortly."),
      );
    },
    read(request, ttlMs, signal) {
      const got = obtain(request, ttlMs);
      if (got.how !== 'miss') return Promise.resolve({ kind: 'kept', entry: got.entry });
      if (signal.aborted) got.leave();
      else signal.addEventListener('abort', got.leave, { once: true });
      return got.outcome;
    },
    stats: () => {
      const windowMs = options.budget.edgeWindow(options.ttlMs, kept.size, now());
      return { ttlMs: options.ttlMs, maxBytes: options.maxBytes, entries: kept.size, bytes, ...counts, windowMs: Number.isFinite(windowMs) ? windowMs : null };
    },
  };
}
