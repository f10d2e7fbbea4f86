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
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError } from '../door/errors';
import { readUpstreamBudget } from '../upstream/rate-limit-headers';
import type { UpstreamBudget } from '../budget/upstream-budget';
import type { SharedEdge } from '../redis/shared-edge';
import type { FailedRead, UpstreamRead } from '../upstream/client';
import type { Clock } from '../../../src/shared/clock';
import { unrefClock } from '../clock';
import { type KeptHow, sendKept, sendUnkept } from './edge-send';
import { Flights } from './flights';
import { keepRead, type PassedAnswer } from './keepable';
import { freshnessOf, type KeptAnswer, KeptAnswers } from './kept-answers';
import { othersCopy, readForOthers } from './others-copy';

export type { KeptAnswer } from './kept-answers';
export { matchesIfNoneMatch } from './kept-answers';
export { sendUnkept } from './edge-send';

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
  /** Sets the pause between two looks for another instance's copy (default: setTimeout, unref'd). */
  setTimer?: Clock['setTimer'];
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

/** What a read gave: a kept answer, an answer to pass on as it came (not kept), or no answer. */
export type EdgeOutcome =
  /** `value`: the answer parsed, when this read brought it (not on a hit), so a caller need not parse it again. */
  { kind: 'kept'; entry: KeptAnswer; value?: unknown } | PassedAnswer | FailedRead;

/** What the browsers that waited would have been told, had any still waited. */
const ABANDONED: FailedRead = {
  kind: 'failed',
  status: 502,
  code: 'UPSTREAM_ABANDONED',
  message: "The agent's server took too long to answer. Purl will try again.",
};

/** What a browser asking now gets: a kept answer at once, or its place in a read. */
type Obtained = { how: 'hit' | 'stale-budget'; entry: KeptAnswer } | { how: 'miss'; outcome: Promise<EdgeOutcome>; leave: () => void };

type EdgeCounts = Omit<EdgeStats, 'ttlMs' | 'maxBytes' | 'entries' | 'bytes' | 'windowMs'>;

/**
 * The wiring: the kept answers (kept-answers.ts) and the reads under way (flights.ts) as data,
 * what may be kept decided by keepable.ts, the cluster's copies by others-copy.ts; here only
 * the upstream read, the counts and the responses.
 */
export function createEdge(options: EdgeOptions): Edge {
  const now = options.now ?? unrefClock.now;
  const kept = new KeptAnswers(options.maxBytes);
  const flights = new Flights<EdgeOutcome>();
  const counts: EdgeCounts = { hits: 0, misses: 0, coalesced: 0, upstreamReads: 0, staleForBudget: 0, notModified: 0, upstreamNotModified: 0, sharedHits: 0 };
  const { shared, budget, maxBytes } = options;
  const setTimer = options.setTimer ?? unrefClock.setTimer;
  const others = shared && { shared, waitMs: options.sharedWaitMs ?? 5_000, maxBytes, now, setTimer };

  /** The upstream's answer (or another instance's fresh copy), cleaned, checked, and kept when it is good. */
  async function refresh(key: string, request: EdgeRequest, ttlMs: number, signal: AbortSignal): Promise<EdgeOutcome> {
    // With no window (GATEWAY_CACHE_TTL=0) there is nothing to share: every read is upstream's.
    const cluster = others && ttlMs > 0 ? others : undefined;
    const copy = cluster && (await othersCopy(cluster, key, request.check, ttlMs, signal));
    if (copy) {
      counts.sharedHits++;
      kept.keep(key, copy);
      return { kind: 'kept', entry: copy };
    }
    // Everyone who waited left meanwhile: nothing to read for.
    if (signal.aborted) return { ...ABANDONED };
    const read = () => readUpstreamAndKeep(key, request, signal);
    return cluster ? readForOthers(cluster.shared, key, ttlMs, read) : read();
  }

  async function readUpstreamAndKeep(key: string, request: EdgeRequest, signal: AbortSignal): Promise<EdgeOutcome> {
    counts.upstreamReads++;
    const held = kept.peek(key);
    const read = await options.read(key, request.client, held?.upstreamEtag, signal);
    if (read.kind === 'failed') return read;
    const arrivedAt = now();
    budget.note(readUpstreamBudget(read.headers, arrivedAt), arrivedAt);
    // Unchanged upstream: the kept answer is only re-stamped.
    if (read.status === 304 && held) counts.upstreamNotModified++;
    return keepRead(kept, key, held, read, request.check, arrivedAt);
  }

  /**
   * The kept answer if fresh (or, while the budget is low, kept at all), else the read under
   * way or a new one, with `leave` to call if the browser goes before it settles.
   */
  function obtain(request: EdgeRequest, ttlMs: number): Obtained {
    const key = request.path;
    const entry = kept.peek(key);
    const at = now();
    const how = entry ? freshnessOf(entry, at, ttlMs, () => budget.edgeWindow(ttlMs, kept.size, at)) : 'stale';
    if (entry && how === 'fresh') {
      counts.hits++;
      kept.touch(key);
      return { how: 'hit', entry };
    }
    if (entry && how === 'stale-budget') {
      counts.staleForBudget++;
      return { how, entry };
    }
    counts.misses++;
    const joined = flights.join(key, (signal) => refresh(key, request, ttlMs, signal));
    if (joined.isCoalesced) counts.coalesced++;
    return { how: 'miss', outcome: joined.outcome, leave: joined.leave };
  }

  function send(req: IncomingMessage, res: ServerResponse, entry: KeptAnswer, how: KeptHow): void {
    const at = now();
    if (sendKept(req, res, entry, how, budget.last(), at)) counts.notModified++;
  }

  return {
    serve(req, res, request) {
      const got = obtain(request, options.ttlMs);
      if (got.how !== 'miss') {
        send(req, res, got.entry, got.how);
        return;
      }
      res.on('close', () => {
        if (!res.writableFinished) got.leave();
      });
      got.outcome.then(
        (outcome) => (outcome.kind === 'kept' ? send(req, res, outcome.entry, 'miss') : sendUnkept(res, outcome, budget.last(), now())),
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
      const windowMs = budget.edgeWindow(options.ttlMs, kept.size, now());
      const held = { ttlMs: options.ttlMs, maxBytes: options.maxBytes, entries: kept.size, bytes: kept.bytes };
      return { ...held, ...counts, windowMs: Number.isFinite(windowMs) ? windowMs : null };
    },
  };
}
