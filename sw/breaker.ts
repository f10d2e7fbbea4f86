/**
 * The circuit breaker as a pure state machine: no I/O, no timers, time passed in as
 * epoch ms. Its snapshot is plain data that sw/breaker-store.ts saves on every change,
 * so a worker that was stopped and restarted picks up where the last one left.
 *
 * closed ──(threshold consecutive failures)──▶ open ──(timeoutMs passes)──▶ half-open
 *   ▲                                                                          │
 *   └──────────────(probe succeeds)─────────── one probe ◀─────────────────────┘
 *                                              (fails: open again from now)
 *
 * Half-open is never stored: it is "open, and openedAt + timeoutMs has passed"
 * (opossum #719 shows what a timer-driven half-open does after a restart). Which
 * failures count (a 5xx, a timeout, a network error; not a 4xx) is the caller's call.
 */
import type { BreakerSnapshot, BreakerView } from '../src/shared/network';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker (whole number ≥ 1). */
  threshold: number;
  /** How long it stays open before one probe, ms (≥ 0). */
  timeoutMs: number;
}

/** The answer to "may I send a request now?". */
export type BreakerDecision =
  | {
      allowed: true;
      /** This request is the single half-open probe: report its outcome. */
      probe: boolean;
    }
  | {
      allowed: false;
      /** Epoch ms from which asking again may be allowed. */
      retryAt: number;
    };

/** Called with the new snapshot whenever the snapshot changes. */
export type BreakerListener = (snapshot: BreakerSnapshot) => void;

/**
 * True when `value` has the shape of a snapshot. Storage is input: check it before use.
 * Unknown extra fields are tolerated (and dropped on restore), so a snapshot written
 * by a newer worker version still restores.
 */
export function isBreakerSnapshot(value: unknown): value is BreakerSnapshot {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  if (record.state === 'closed') return Number.isSafeInteger(record.failures) && (record.failures as number) >= 0;
  if (record.state === 'open') return Number.isFinite(record.openedAt) && (record.openedAt as number) >= 0;
  return false;
}

/** A copy holding only the snapshot's own fields. */
function copySnapshot(snapshot: BreakerSnapshot): BreakerSnapshot {
  return snapshot.state === 'closed' ? { state: 'closed', failures: snapshot.failures } : { state: 'open', openedAt: snapshot.openedAt };
}

function validateOptions(options: CircuitBreakerOptions): void {
  if (!Number.isSafeInteger(options.threshold) || options.threshold < 1) {
    throw new RangeError(`CircuitBreaker: threshold is out of range: ${String(options.threshold)}`);
  }
  if (!Number.isFinite(options.timeoutMs) || options.timeoutMs < 0) {
    throw new RangeError(`CircuitBreaker: timeoutMs is out of range: ${String(options.timeoutMs)}`);
  }
}

/**
 * One breaker for every request the worker makes to the agent's server.
 *
 * `onTransition` listeners hear every change of the snapshot: closed → open, open →
 * closed, a reopen with a new `openedAt`, and each change of the closed failure count
 * (so consecutive failures also survive a worker restart). The in-memory probe flag is
 * not part of the snapshot and is not announced.
 */
export class CircuitBreaker {
  readonly #threshold: number;
  readonly #timeoutMs: number;
  #snapshot: BreakerSnapshot;
  /**
   * Epoch ms when the half-open probe was handed out, or undefined when none is out.
   * Kept in memory only: a new worker has no probe in flight, so it may send one at once.
   */
  #probeSentAt: number | undefined;
  readonly #listeners = new Set<BreakerListener>();

  /**
   * @param snapshot a saved state to resume from (validate stored data with
   *   `isBreakerSnapshot` first; sw/breaker-store.ts does); closed with 0 failures when absent.
   * @throws RangeError for an option or snapshot out of range.
   */
  constructor(options: CircuitBreakerOptions, snapshot?: BreakerSnapshot) {
    validateOptions(options);
    if (snapshot !== undefined && !isBreakerSnapshot(snapshot)) {
      throw new RangeError(`CircuitBreaker: not a breaker snapshot: ${JSON.stringify(snapshot)}`);
    }
    this.#threshold = options.threshold;
    this.#timeoutMs = options.timeoutMs;
    this.#snapshot = snapshot ? copySnapshot(snapshot) : { state: 'closed', failures: 0 };
  }

  /**
   * Asks to send one request at `now`.
   * - closed: allowed.
   * - open, before openedAt + timeoutMs: denied until then.
   * - open after that (half-open): the first caller gets the probe; everyone else is
   *   denied until the probe reports through `onSuccess` / `onFailure`. A probe that
   *   never reports is presumed lost after another `timeoutMs`, and a new one is given,
   *   so a caller that forgot to report cannot hold the breaker open for good.
   *
   * An `openedAt` in the future means the system clock went back; the timeout then
   * restarts from `now`, so a changed clock delays the probe by one timeout at most.
   */
  request(now: number): BreakerDecision {
    const snapshot = this.#snapshot;
    if (snapshot.state === 'closed') return { allowed: true, probe: false };
    if (snapshot.openedAt > now) this.#change({ state: 'open', openedAt: now });
    const probeAt = this.#nextProbeAt();
    if (now < probeAt) return { allowed: false, retryAt: probeAt };
    if (this.#isProbeOut(now)) return { allowed: false, retryAt: (this.#probeSentAt as number) + this.#timeoutMs };
    this.#probeSentAt = now;
    return { allowed: true, probe: true };
  }

  /** A request succeeded: the server answers, so the breaker closes with 0 failures. */
  onSuccess(_now: number): void {
    this.#probeSentAt = undefined;
    const snapshot = this.#snapshot;
    if (snapshot.state === 'closed' && snapshot.failures === 0) return;
    this.#change({ state: 'closed', failures: 0 });
  }

  /**
   * A request failed (in a way the caller counts). Closed: one more consecutive failure,
   * opening at `threshold`. Half-open (the probe failed): open again from `now`. Open
   * before the timeout: ignored, because it is a request sent before the breaker opened
   * finishing late, and must not push the probe further away.
   */
  onFailure(now: number): void {
    const snapshot = this.#snapshot;
    if (snapshot.state === 'closed') {
      const failures = snapshot.failures + 1;
      this.#change(failures >= this.#threshold ? { state: 'open', openedAt: now } : { state: 'closed', failures });
      return;
    }
    if (this.#probeSentAt === undefined && now < this.#nextProbeAt()) return;
    this.#probeSentAt = undefined;
    this.#change({ state: 'open', openedAt: now });
  }

  /**
   * Epoch ms from which `request` may be allowed: `now` or earlier while closed or
   * half-open with no probe out, the probe time while open, and while a probe is out the
   * time it is presumed lost (its answer comes sooner, and changes this).
   */
  allowsAt(now: number): number {
    const snapshot = this.#snapshot;
    if (snapshot.state === 'closed') return Number.NEGATIVE_INFINITY;
    const probeAt = Math.min(snapshot.openedAt, now) + this.#timeoutMs;
    if (now < probeAt) return probeAt;
    return this.#isProbeOut(now) ? (this.#probeSentAt as number) + this.#timeoutMs : probeAt;
  }

  /**
   * Opens a closed breaker at `now` without waiting for the threshold: something other
   * than a request (the gateway's health check) says the server is down. An open breaker
   * is left as it is, so its probe is never pushed further away.
   */
  trip(now: number): void {
    if (this.#snapshot.state === 'closed') this.#change({ state: 'open', openedAt: now });
  }

  /**
   * Makes an open breaker half-open at `now` (its probe may go at once): something other
   * than a request says the server is back. The probe still decides whether it closes.
   * A probe already out is left to report.
   */
  probeNow(now: number): void {
    const snapshot = this.#snapshot;
    if (snapshot.state !== 'open' || this.#isProbeOut(now)) return;
    if (now < snapshot.openedAt + this.#timeoutMs) this.#change({ state: 'open', openedAt: Math.max(0, now - this.#timeoutMs) });
  }

  /** What the UI shows at `now`: half-open once the timeout has passed. */
  view(now: number): BreakerView {
    const snapshot = this.#snapshot;
    if (snapshot.state === 'closed') return { state: 'closed', failures: snapshot.failures };
    // A future openedAt (clock went back) is shown as it will be treated: from now.
    const openedAt = Math.min(snapshot.openedAt, now);
    const nextProbeAt = openedAt + this.#timeoutMs;
    return { state: now >= nextProbeAt ? 'half-open' : 'open', openedAt, nextProbeAt };
  }

  /** The state to persist. Half-open is saved as open with its old `openedAt`. */
  toJSON(): BreakerSnapshot {
    return copySnapshot(this.#snapshot);
  }

  /**
   * Listens to every change of the snapshot (see the class comment for which).
   * @returns a function that removes the listener.
   */
  onTransition(listener: BreakerListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** A probe was handed out and is not yet presumed lost (nor from before a clock change). */
  #isProbeOut(now: number): boolean {
    const sentAt = this.#probeSentAt;
    return sentAt !== undefined && now >= sentAt && now < sentAt + this.#timeoutMs;
  }

  #nextProbeAt(): number {
    return this.#snapshot.state === 'open' ? this.#snapshot.openedAt + this.#timeoutMs : Number.NEGATIVE_INFINITY;
  }

  #change(next: BreakerSnapshot): void {
    this.#snapshot = next;
    for (const listener of [...this.#listeners]) {
      try {
        listener(copySnapshot(next));
      } catch (error) {
        // A faulty listener (a failed save, say) must neither undo the transition nor
        // keep the other listeners from hearing it.
        console.error('CircuitBreaker: a transition listener threw', error);
      }
    }
  }
}
