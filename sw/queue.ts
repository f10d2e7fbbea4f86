/**
 * The one request queue of the service worker. Every request the worker makes to the
 * agent goes through it, and one worker serves every tab of the origin, so one cap and
 * one order hold for all of them. Pure TypeScript: the network (`send`) and the timer
 * are injected, so the same code runs in the worker, in unit tests and in the Node load
 * simulation.
 *
 * - **Order**: priority classes, most important first (`user` > `chat` > `memories` >
 *   `background`, as in {@link PRIORITIES}); first in, first out within a class.
 * - **Cap**: at most `maxConcurrent()` requests in flight. It is read at every
 *   dispatch, so switching high-load mode takes effect at the next start; requests
 *   already running are never cancelled for it.
 * - **Dedup**: a GET for a URL that is already pending or in flight (other headers are
 *   ignored) joins that request instead of sending another. Every caller gets its own
 *   `Response` (clones of one answer), so each can read the body; a failure is shared.
 *   A more important caller joining a pending request raises it to its class. Other
 *   methods are never deduplicated: two POSTs are two messages.
 * - **Bound**: at most `maxPending` requests wait (not in flight). Past that, the least
 *   important waiting one is dropped with `PurlError('queue-full')`: the lowest class
 *   first, the oldest within it (an older poll is the staler one). When the incoming
 *   request is itself the least important, it is the one rejected.
 *   **A `user` request is never dropped**: user requests (what a person sent) do not
 *   count towards `maxPending`, so they may take the queue past it, and they are never
 *   chosen for dropping. Only polls and background work give way.
 * - **Timeout**: `timeoutMs` counts from when a request starts (in flight, not while it
 *   waits). On expiry the fetch is aborted, the callers get `PurlError('timeout')` and
 *   the slot is freed at once, even if `send` ignores the signal.
 *
 * Whatever `send` rejects with is passed to the callers unchanged: classifying network
 * failures is the job of `send` (or the guard in front of it), not of the queue. A failed
 * or throwing `send` frees its slot like any other settlement, so nothing is left hanging.
 */
import { PurlError } from '../src/shared/errors';
import { PRIORITIES, type Priority } from '../src/shared/network';

/** What the queue is counting, for the metrics panel. */
export interface QueueStats {
  /** Requests waiting for a slot (user requests included). */
  pending: number;
  /** Requests started and not yet settled. */
  inFlight: number;
  /** Requests rejected with `queue-full` since the queue was made. */
  dropped: number;
  /** Callers that joined an identical GET instead of sending their own. */
  deduplicated: number;
  /** Requests rejected with `timeout` since the queue was made. */
  timedOut: number;
}

/** How a {@link RequestQueue} behaves. */
export interface QueueOptions {
  /**
   * Most requests in flight at once, origin-wide (3 normal, 2 high load). Read at every
   * dispatch, so high-load mode can change it live. Values below 1 count as 1: a cap of
   * 0 would stall every request with nothing left to wake the queue.
   */
  maxConcurrent: () => number;
  /**
   * Most non-user requests waiting (not in flight); a whole number ≥ 0, or `Infinity`.
   * User requests are exempt: see {@link RequestQueue}.
   */
  maxPending: number;
  /**
   * Per-request timeout in ms, counted from the start of the request; a timeout aborts
   * the fetch and rejects with `PurlError('timeout')`. A function is read as each
   * request starts (so a setting loaded after the queue was made applies), and a value
   * it gives out of range falls back to the queue's default of 30 s.
   */
  timeoutMs: number | (() => number);
  /** The network (or a guard in front of it: breaker, Retry-After). Gets an AbortSignal. */
  send: (request: Request, signal: AbortSignal) => Promise<Response>;
  /** Called whenever the stats change (pending, in flight or a counter), for metrics. */
  onChange?: (stats: QueueStats) => void;
  /**
   * Starts the timeout clock and returns its canceller. Defaults to `setTimeout`, which
   * fake timers drive in tests; the load simulation can pass its own virtual clock.
   */
  setTimer?: (callback: () => void, ms: number) => () => void;
}

interface Waiter {
  resolve: (response: Response) => void;
  reject: (error: unknown) => void;
}

interface Entry {
  /** Arrival order, the tie-break within a class. */
  readonly seq: number;
  readonly request: Request;
  /** Set for GETs only: the key callers share the entry by. */
  readonly key: string | undefined;
  /** Index in PRIORITIES: 0 is the most important. */
  rank: number;
  readonly waiters: Waiter[];
  isInFlight: boolean;
}

type Outcome = { response: Response } | { error: unknown };

const USER_RANK = PRIORITIES.indexOf('user');

// Browsers fire a setTimeout whose delay exceeds a signed 32-bit int at once:
// https://developer.mozilla.org/en-US/docs/Web/API/Window/setTimeout#maximum_delay_value
const MAX_TIMER_MS = 2 ** 31 - 1;
const DEFAULT_TIMEOUT_MS = 30_000;

function isTimeoutInRange(ms: number): boolean {
  return ms > 0 && ms <= MAX_TIMER_MS;
}

function defaultSetTimer(callback: () => void, ms: number): () => void {
  const id = setTimeout(callback, ms);
  return () => clearTimeout(id);
}

/** Hands one outcome to every caller of an entry, each with a body of its own. */
function deliver(waiters: readonly Waiter[], outcome: Outcome): void {
  if ('error' in outcome) {
    for (const waiter of waiters) waiter.reject(outcome.error);
    return;
  }
  let responses: Response[];
  try {
    // Clones first, the original last: cloning a response whose body was read throws.
    const last = waiters.length - 1;
    responses = waiters.map((_, i) => (i === last ? outcome.response : outcome.response.clone()));
  } catch (error) {
    // send gave back a consumed body: nobody can read it, so everyone learns why.
    for (const waiter of waiters) waiter.reject(error);
    return;
  }
  for (const [i, waiter] of waiters.entries()) waiter.resolve(responses[i]!);
}

/**
 * The worker's request queue: priority classes, one origin-wide concurrency cap,
 * shared identical GETs, a bound on waiting requests that never drops a `user`
 * request, and a per-request timeout. See the module comment for the rules.
 */
export class RequestQueue {
  readonly #maxConcurrent: () => number;
  readonly #maxPending: number;
  readonly #timeoutMs: () => number;
  readonly #send: QueueOptions['send'];
  readonly #onChange: QueueOptions['onChange'];
  readonly #setTimer: NonNullable<QueueOptions['setTimer']>;
  /** Waiting entries per class (index = rank), each in arrival order. */
  readonly #pending: Entry[][] = PRIORITIES.map(() => []);
  /** GETs pending or in flight, by URL, so identical ones can join them. */
  readonly #shared = new Map<string, Entry>();
  #inFlight = 0;
  #seq = 0;
  #dropped = 0;
  #deduplicated = 0;
  #timedOut = 0;

  /** @throws RangeError when `maxPending` or `timeoutMs` is out of range. */
  constructor(options: QueueOptions) {
    const { maxPending, timeoutMs } = options;
    if (!(maxPending >= 0 && (Number.isInteger(maxPending) || maxPending === Infinity))) {
      throw new RangeError(`maxPending must be a whole number ≥ 0, got ${maxPending}`);
    }
    if (typeof timeoutMs === 'number' && !isTimeoutInRange(timeoutMs)) {
      throw new RangeError(`timeoutMs must be > 0 and ≤ ${MAX_TIMER_MS}, got ${timeoutMs}`);
    }
    this.#maxConcurrent = options.maxConcurrent;
    this.#maxPending = maxPending;
    this.#timeoutMs =
      typeof timeoutMs === 'number'
        ? () => timeoutMs
        : () => {
            const ms = timeoutMs();
            return isTimeoutInRange(ms) ? ms : DEFAULT_TIMEOUT_MS;
          };
    this.#send = options.send;
    this.#onChange = options.onChange;
    this.#setTimer = options.setTimer ?? defaultSetTimer;
  }

  /**
   * Sends `request` when its turn comes. Resolves with the response (a caller's own
   * copy when the GET was shared); rejects with `PurlError('queue-full')` when dropped,
   * `PurlError('timeout')` when it ran too long, or whatever `send` rejected with.
   * An unknown priority rejects with a `RangeError`.
   */
  enqueue(request: Request, priority: Priority): Promise<Response> {
    const rank = PRIORITIES.indexOf(priority);
    if (rank < 0) return Promise.reject(new RangeError(`Unknown priority: ${String(priority)}`));
    const key = request.method === 'GET' ? request.url : undefined;
    return new Promise<Response>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      const existing = key === undefined ? undefined : this.#shared.get(key);
      if (existing) {
        existing.waiters.push(waiter);
        this.#deduplicated++;
        if (!existing.isInFlight && rank < existing.rank) this.#raise(existing, rank);
      } else {
        const entry: Entry = { seq: this.#seq++, request, key, rank, waiters: [waiter], isInFlight: false };
        if (key !== undefined) this.#shared.set(key, entry);
        this.#insert(entry);
      }
      // Also after a join: the cap may have been raised since the last dispatch.
      this.#dispatch();
      this.#trim();
      this.#emit();
    });
  }

  /** The counts now, as a fresh object. */
  stats(): QueueStats {
    return {
      pending: this.#pending.reduce((sum, entries) => sum + entries.length, 0),
      inFlight: this.#inFlight,
      dropped: this.#dropped,
      deduplicated: this.#deduplicated,
      timedOut: this.#timedOut,
    };
  }

  /** Puts an entry in its class, keeping the class in arrival order. */
  #insert(entry: Entry): void {
    const entries = this.#pending[entry.rank]!;
    const at = entries.findIndex((other) => other.seq > entry.seq);
    if (at < 0) entries.push(entry);
    else entries.splice(at, 0, entry);
  }

  #remove(entry: Entry): void {
    const entries = this.#pending[entry.rank]!;
    entries.splice(entries.indexOf(entry), 1);
  }

  /**
   * Moves a waiting entry to a more important class. It keeps its arrival order there:
   * it has waited since it was first asked for, longer than later arrivals of that class.
   */
  #raise(entry: Entry, rank: number): void {
    this.#remove(entry);
    entry.rank = rank;
    this.#insert(entry);
  }

  #cap(): number {
    const cap = this.#maxConcurrent();
    return cap >= 1 ? Math.floor(cap) : 1;
  }

  /** Starts the most important waiting entries while there are free slots. */
  #dispatch(): void {
    while (this.#inFlight < this.#cap()) {
      const entry = this.#pending.find((entries) => entries.length > 0)?.shift();
      if (!entry) return;
      this.#start(entry);
    }
  }

  /** Drops the least important non-user entries until the bound holds. */
  #trim(): void {
    let waiting = this.#pending.reduce((sum, entries, rank) => (rank === USER_RANK ? sum : sum + entries.length), 0);
    while (waiting > this.#maxPending) {
      const victim = this.#leastImportant();
      if (!victim) return;
      this.#remove(victim);
      waiting--;
      this.#dropped++;
      if (victim.key !== undefined) this.#shared.delete(victim.key);
      deliver(victim.waiters, { error: new PurlError('queue-full', `${victim.request.method} ${victim.request.url}`) });
    }
  }

  /**
   * The oldest entry of the lowest non-empty class. `user` is skipped outright so the
   * never-drop rule holds here on its own, not only through how #trim counts.
   */
  #leastImportant(): Entry | undefined {
    for (let rank = this.#pending.length - 1; rank >= 0; rank--) {
      if (rank !== USER_RANK && this.#pending[rank]!.length > 0) return this.#pending[rank]![0];
    }
    return undefined;
  }

  #start(entry: Entry): void {
    entry.isInFlight = true;
    this.#inFlight++;
    const controller = new AbortController();
    const timeoutMs = this.#timeoutMs();
    let isSettled = false;
    const settle = (outcome: Outcome): void => {
      isSettled = true;
      cancelTimer();
      this.#inFlight--;
      // Callers arriving from now on make a new request: this answer is already theirs to miss.
      if (entry.key !== undefined && this.#shared.get(entry.key) === entry) this.#shared.delete(entry.key);
      deliver(entry.waiters, outcome);
      this.#dispatch();
      this.#emit();
    };
    const cancelTimer = this.#setTimer(() => {
      if (isSettled) return;
      this.#timedOut++;
      const error = new PurlError('timeout', `${entry.request.method} ${entry.request.url} after ${timeoutMs} ms`);
      // The reason reaches fetch, so a guard in front of the network sees why it stopped.
      controller.abort(error);
      // Settle now rather than when send gives up: a send that ignores the signal must not hold the slot.
      settle({ error });
    }, timeoutMs);

    let sending: Promise<Response>;
    try {
      sending = this.#send(entry.request, controller.signal);
    } catch (error) {
      // A send that throws instead of rejecting still settles through the same path.
      sending = Promise.reject(error);
    }
    sending.then(
      (response) => {
        if (!isSettled) return settle({ response });
        // Timed out already: nobody will read this body, so let the connection go.
        response.body?.cancel().catch(() => {
          /* the body is discarded either way; a failed cancel changes nothing */
        });
      },
      (error: unknown) => {
        // After a timeout the rejection is the abort we caused; the callers already know.
        if (!isSettled) settle({ error });
      },
    );
  }

  #emit(): void {
    if (!this.#onChange) return;
    try {
      this.#onChange(this.stats());
    } catch (error) {
      // A broken metrics listener must not stall the queue or swallow a caller's promise;
      // rethrown outside the queue's bookkeeping, it still shows up as an uncaught error.
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}
