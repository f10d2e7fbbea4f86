import { describe, expect, it, vi } from 'vitest';
import type { BreakerSnapshot } from '../src/shared/network';
import { CircuitBreaker, isBreakerSnapshot } from './breaker';

const T0 = Date.UTC(2026, 0, 15, 12);
const TIMEOUT = 300_000;
const options = { threshold: 5, timeoutMs: TIMEOUT };

/** A breaker opened at T0 by five failures. */
function openedBreaker(): CircuitBreaker {
  const breaker = new CircuitBreaker(options);
  for (let i = 0; i < 5; i += 1) breaker.onFailure(T0);
  return breaker;
}

describe('CircuitBreaker', () => {
  it('starts closed and allows requests, none of them probes', () => {
    const breaker = new CircuitBreaker(options);
    expect(breaker.request(T0)).toEqual({ allowed: true, probe: false });
    expect(breaker.view(T0)).toEqual({ state: 'closed', failures: 0 });
    expect(breaker.toJSON()).toEqual({ state: 'closed', failures: 0 });
  });

  it('opens after exactly five consecutive failures', () => {
    const breaker = new CircuitBreaker(options);
    for (let i = 1; i <= 4; i += 1) {
      breaker.onFailure(T0 + i);
      expect(breaker.toJSON()).toEqual({ state: 'closed', failures: i });
      expect(breaker.request(T0 + i).allowed).toBe(true);
    }
    breaker.onFailure(T0 + 5);
    expect(breaker.toJSON()).toEqual({ state: 'open', openedAt: T0 + 5 });
  });

  it('does not open when a success comes between failures', () => {
    const breaker = new CircuitBreaker(options);
    for (let i = 0; i < 4; i += 1) breaker.onFailure(T0);
    breaker.onSuccess(T0);
    expect(breaker.toJSON()).toEqual({ state: 'closed', failures: 0 });
    for (let i = 0; i < 4; i += 1) breaker.onFailure(T0);
    expect(breaker.toJSON()).toEqual({ state: 'closed', failures: 4 });
    expect(breaker.request(T0).allowed).toBe(true);
  });

  it('opens at the first failure with a threshold of one', () => {
    const breaker = new CircuitBreaker({ threshold: 1, timeoutMs: TIMEOUT });
    breaker.onFailure(T0);
    expect(breaker.toJSON()).toEqual({ state: 'open', openedAt: T0 });
  });

  it('denies every request while open, with retryAt at openedAt + timeout', () => {
    const breaker = openedBreaker();
    for (const now of [T0, T0 + 1, T0 + TIMEOUT - 1]) {
      expect(breaker.request(now)).toEqual({ allowed: false, retryAt: T0 + TIMEOUT });
    }
    expect(breaker.view(T0 + 1)).toEqual({ state: 'open', openedAt: T0, nextProbeAt: T0 + TIMEOUT });
  });

  it('becomes half-open from timestamps alone once the timeout passes', () => {
    vi.useFakeTimers();
    try {
      const breaker = openedBreaker();
      // Nothing is scheduled: the state comes from the time asked about.
      expect(vi.getTimerCount()).toBe(0);
      expect(breaker.view(T0 + TIMEOUT)).toEqual({ state: 'half-open', openedAt: T0, nextProbeAt: T0 + TIMEOUT });
      expect(breaker.toJSON()).toEqual({ state: 'open', openedAt: T0 });
    } finally {
      vi.useRealTimers();
    }
  });

  it('gives the probe to exactly one of two callers asking at once after the timeout', () => {
    const breaker = openedBreaker();
    const now = T0 + TIMEOUT;
    const first = breaker.request(now);
    const second = breaker.request(now);
    expect(first).toEqual({ allowed: true, probe: true });
    expect(second.allowed).toBe(false);
    // Still only one probe a little later, while the first has not reported.
    expect(breaker.request(now + 10_000).allowed).toBe(false);
  });

  it('closes with no failures when the probe succeeds', () => {
    const breaker = openedBreaker();
    expect(breaker.request(T0 + TIMEOUT)).toEqual({ allowed: true, probe: true });
    breaker.onSuccess(T0 + TIMEOUT + 200);
    expect(breaker.toJSON()).toEqual({ state: 'closed', failures: 0 });
    expect(breaker.request(T0 + TIMEOUT + 300)).toEqual({ allowed: true, probe: false });
  });

  it('reopens from the time of a failed probe', () => {
    const breaker = openedBreaker();
    const probeAt = T0 + TIMEOUT + 1_000;
    expect(breaker.request(probeAt)).toEqual({ allowed: true, probe: true });
    breaker.onFailure(probeAt + 500);
    expect(breaker.toJSON()).toEqual({ state: 'open', openedAt: probeAt + 500 });
    expect(breaker.request(probeAt + 600)).toEqual({ allowed: false, retryAt: probeAt + 500 + TIMEOUT });
    // And probes once more after the new timeout.
    expect(breaker.request(probeAt + 500 + TIMEOUT)).toEqual({ allowed: true, probe: true });
  });

  it('ignores a late failure of a request sent before the breaker opened', () => {
    const breaker = openedBreaker();
    breaker.onFailure(T0 + 60_000);
    expect(breaker.toJSON()).toEqual({ state: 'open', openedAt: T0 });
  });

  it('hands out a new probe when the last one never reported within another timeout', () => {
    const breaker = openedBreaker();
    expect(breaker.request(T0 + TIMEOUT).allowed).toBe(true);
    expect(breaker.request(T0 + 2 * TIMEOUT - 1)).toEqual({ allowed: false, retryAt: T0 + 2 * TIMEOUT });
    expect(breaker.request(T0 + 2 * TIMEOUT)).toEqual({ allowed: true, probe: true });
  });

  it('restores an open breaker after a worker restart and probes at once when the timeout has passed', () => {
    const before = openedBreaker();
    expect(before.request(T0 + TIMEOUT).allowed).toBe(true); // a probe in flight when the worker died
    const restored = new CircuitBreaker(options, JSON.parse(JSON.stringify(before)) as BreakerSnapshot);
    expect(restored.view(T0 + TIMEOUT + 5).state).toBe('half-open');
    expect(restored.request(T0 + TIMEOUT + 5)).toEqual({ allowed: true, probe: true });
    expect(restored.request(T0 + TIMEOUT + 5).allowed).toBe(false);
  });

  it('restarts the timeout from now when the clock went back past openedAt', () => {
    const breaker = new CircuitBreaker(options, { state: 'open', openedAt: T0 + 86_400_000 });
    expect(breaker.view(T0)).toEqual({ state: 'open', openedAt: T0, nextProbeAt: T0 + TIMEOUT });
    expect(breaker.request(T0)).toEqual({ allowed: false, retryAt: T0 + TIMEOUT });
    expect(breaker.toJSON()).toEqual({ state: 'open', openedAt: T0 });
    expect(breaker.request(T0 + TIMEOUT)).toEqual({ allowed: true, probe: true });
  });

  it('tells listeners about every change of the snapshot, and only those', () => {
    const breaker = new CircuitBreaker({ threshold: 2, timeoutMs: TIMEOUT });
    const seen: BreakerSnapshot[] = [];
    const stop = breaker.onTransition((snapshot) => seen.push(snapshot));
    breaker.onSuccess(T0); // already closed with 0 failures: no change
    breaker.onFailure(T0);
    breaker.onFailure(T0 + 1);
    breaker.request(T0 + 2); // denied: no change
    breaker.request(T0 + 1 + TIMEOUT); // probe handed out: in memory only
    breaker.onFailure(T0 + 2 + TIMEOUT);
    breaker.request(T0 + 2 + 2 * TIMEOUT);
    breaker.onSuccess(T0 + 3 + 2 * TIMEOUT);
    stop();
    breaker.onFailure(T0 + 4 + 2 * TIMEOUT);
    expect(seen).toEqual([
      { state: 'closed', failures: 1 },
      { state: 'open', openedAt: T0 + 1 },
      { state: 'open', openedAt: T0 + 2 + TIMEOUT },
      { state: 'closed', failures: 0 },
    ]);
  });

  it('keeps the transition and the other listeners when one listener throws', () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    const breaker = new CircuitBreaker({ threshold: 1, timeoutMs: TIMEOUT });
    const other = vi.fn();
    breaker.onTransition(() => {
      throw new Error('disk full');
    });
    breaker.onTransition(other);
    breaker.onFailure(T0);
    expect(breaker.toJSON()).toEqual({ state: 'open', openedAt: T0 });
    expect(other).toHaveBeenCalledWith({ state: 'open', openedAt: T0 });
    expect(error).toHaveBeenCalledOnce();
  });

  it('gives out snapshots that cannot change the breaker', () => {
    const breaker = new CircuitBreaker(options);
    const snapshot = breaker.toJSON() as { failures: number };
    snapshot.failures = 99;
    expect(breaker.toJSON()).toEqual({ state: 'closed', failures: 0 });
  });

  it('rejects bad options and snapshots with a RangeError naming the value', () => {
    expect(() => new CircuitBreaker({ threshold: 0, timeoutMs: TIMEOUT })).toThrow(/threshold.*: 0/);
    expect(() => new CircuitBreaker({ threshold: 2.5, timeoutMs: TIMEOUT })).toThrow(/threshold.*: 2.5/);
    expect(() => new CircuitBreaker({ threshold: 5, timeoutMs: -1 })).toThrow(/timeoutMs.*: -1/);
    expect(() => new CircuitBreaker({ threshold: 5, timeoutMs: Number.NaN })).toThrow(RangeError);
    expect(() => new CircuitBreaker(options, { state: 'open', openedAt: Number.NaN })).toThrow(RangeError);
  });

  it('recognises stored snapshots and rejects anything else', () => {
    expect(isBreakerSnapshot({ state: 'closed', failures: 3 })).toBe(true);
    expect(isBreakerSnapshot({ state: 'open', openedAt: T0 })).toBe(true);
    const corrupt = [
      null,
      'open',
      42,
      {},
      { state: 'half-open' },
      { state: 'closed', failures: -1 },
      { state: 'closed', failures: '2' },
      { state: 'open' },
      { state: 'open', openedAt: Infinity },
    ];
    for (const bad of corrupt) {
      expect(isBreakerSnapshot(bad), JSON.stringify(bad)).toBe(false);
    }
  });

  it('says from when a request may be allowed: the probe time while open, the lost-probe time while one is out', () => {
    const breaker = new CircuitBreaker(options);
    expect(breaker.allowsAt(T0)).toBe(Number.NEGATIVE_INFINITY);
    for (let i = 0; i < options.threshold; i += 1) breaker.onFailure(T0);
    expect(breaker.allowsAt(T0 + 1)).toBe(T0 + TIMEOUT);
    expect(breaker.request(T0 + TIMEOUT)).toEqual({ allowed: true, probe: true });
    expect(breaker.allowsAt(T0 + TIMEOUT + 1)).toBe(T0 + 2 * TIMEOUT);
  });

  it("trips open when told the server is down, without pushing an open breaker's probe further away", () => {
    const breaker = new CircuitBreaker(options);
    breaker.trip(T0);
    expect(breaker.toJSON()).toEqual({ state: 'open', openedAt: T0 });
    breaker.trip(T0 + 1_000);
    expect(breaker.toJSON()).toEqual({ state: 'open', openedAt: T0 });
  });

  it('lets the probe go at once when told the server is back, and still needs it to close', () => {
    const breaker = new CircuitBreaker(options);
    breaker.trip(T0);
    breaker.probeNow(T0 + 1_000);
    expect(breaker.view(T0 + 1_000).state).toBe('half-open');
    expect(breaker.request(T0 + 1_000)).toEqual({ allowed: true, probe: true });
    // A probe out is left to report.
    breaker.probeNow(T0 + 1_001);
    expect(breaker.request(T0 + 1_001).allowed).toBe(false);
    breaker.onFailure(T0 + 1_002);
    expect(breaker.toJSON()).toEqual({ state: 'open', openedAt: T0 + 1_002 });
  });
});
