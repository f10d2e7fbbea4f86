/**
 * Backoff as a value: each `Backoff` holds one delay and makes the next one, so a
 * caller keeps the value it is at (or only its `attempt`, which is what gets persisted)
 * instead of a mutable retry counter hidden in a closure.
 */

/** One step of a retry schedule. Immutable: `next()` returns a new value. */
export interface Backoff {
  /** How long to wait before this attempt, ms. */
  readonly delay: number;
  /** Which retry this is, 0 for the first. */
  readonly attempt: number;
  /** The step after this one; this value is left as it is. */
  next(): Backoff;
}

export interface ExponentialBackoffOptions {
  /** The ceiling of the first delay, ms (> 0). */
  initialMs: number;
  /** The ceiling no delay exceeds, ms (≥ initialMs). Purl uses 30 min. */
  maxMs: number;
  /** Growth per attempt (≥ 1), default 2. */
  factor?: number;
  /** Uniform in [0, 1), default Math.random; injected so tests can pin the jitter. */
  random?: () => number;
  /**
   * The attempt to start at, default 0. Lets a worker that restarted resume the
   * schedule from a persisted error streak instead of starting again from the bottom.
   */
  attempt?: number;
}

function check(name: string, value: number, valid: boolean): void {
  if (!valid) throw new RangeError(`exponentialBackoff: ${name} is out of range: ${String(value)}`);
}

/**
 * Exponential backoff with "equal jitter": attempt n waits uniformly in
 * [cap/2, cap], where cap = min(maxMs, initialMs · factorⁿ).
 *
 * Half of the delay is fixed so a retry never comes almost at once (plain "full jitter"
 * can draw ~0), and half is random so hundreds of browsers that failed together do not
 * retry together. See https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/.
 *
 * @throws RangeError when an option is not a finite number in its range.
 */
export function exponentialBackoff(options: ExponentialBackoffOptions): Backoff {
  const { initialMs, maxMs, factor = 2, random = Math.random, attempt = 0 } = options;
  check('initialMs', initialMs, Number.isFinite(initialMs) && initialMs > 0);
  check('maxMs', maxMs, Number.isFinite(maxMs) && maxMs >= initialMs);
  check('factor', factor, Number.isFinite(factor) && factor >= 1);
  check('attempt', attempt, Number.isSafeInteger(attempt) && attempt >= 0);
  if (typeof random !== 'function') throw new RangeError(`exponentialBackoff: random is not a function: ${String(random)}`);

  const step = (n: number): Backoff => {
    // factor ** n overflows to Infinity for large n; min() then yields maxMs, as wanted.
    const cap = Math.min(maxMs, initialMs * factor ** n);
    const r = random();
    // A faulty injected random must not break the documented bounds.
    const unit = Number.isFinite(r) ? Math.min(1, Math.max(0, r)) : 0;
    return Object.freeze({
      delay: cap / 2 + (cap / 2) * unit,
      attempt: n,
      next: () => step(n + 1),
    });
  };
  return step(attempt);
}
