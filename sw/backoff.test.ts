import { describe, expect, it } from 'vitest';
import { exponentialBackoff, type Backoff } from './backoff';

const THIRTY_MIN = 30 * 60_000;

/** The delays of the first `count` attempts. */
function delays(first: Backoff, count: number): number[] {
  const result: number[] = [];
  let backoff = first;
  for (let i = 0; i < count; i += 1) {
    result.push(backoff.delay);
    backoff = backoff.next();
  }
  return result;
}

describe('exponential backoff', () => {
  it('doubles the ceiling on each attempt, starting from initialMs at attempt 0', () => {
    // random() = 1 puts every delay at its ceiling.
    const backoff = exponentialBackoff({ initialMs: 1_000, maxMs: THIRTY_MIN, random: () => 1 });
    expect(backoff.attempt).toBe(0);
    expect(delays(backoff, 5)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000]);
  });

  it('grows by a custom factor', () => {
    const backoff = exponentialBackoff({ initialMs: 100, maxMs: 10_000, factor: 3, random: () => 1 });
    expect(delays(backoff, 4)).toEqual([100, 300, 900, 2_700]);
  });

  it('never exceeds the 30-minute ceiling, however many attempts', () => {
    let backoff = exponentialBackoff({ initialMs: 1_000, maxMs: THIRTY_MIN, random: () => 1 });
    for (let i = 0; i < 2_000; i += 1) backoff = backoff.next();
    expect(backoff.attempt).toBe(2_000);
    expect(backoff.delay).toBe(THIRTY_MIN);
  });

  it('reaches the ceiling at the first attempt whose exponential passes it', () => {
    // 1 s · 2^11 = 2048 s > 1800 s, so attempt 11 is the first one capped.
    const backoff = exponentialBackoff({ initialMs: 1_000, maxMs: THIRTY_MIN, random: () => 1 });
    const all = delays(backoff, 13);
    expect(all[10]).toBe(1_024_000);
    expect(all[11]).toBe(THIRTY_MIN);
    expect(all[12]).toBe(THIRTY_MIN);
  });

  it('keeps every delay within [ceiling/2, ceiling] for many random values', () => {
    let seed = 42;
    // A small deterministic LCG, so a failure is reproducible.
    const random = () => {
      seed = (seed * 1_664_525 + 1_013_904_223) % 2 ** 32;
      return seed / 2 ** 32;
    };
    let backoff = exponentialBackoff({ initialMs: 500, maxMs: THIRTY_MIN, random });
    for (let i = 0; i < 1_000; i += 1) {
      const cap = Math.min(THIRTY_MIN, 500 * 2 ** backoff.attempt);
      expect(backoff.delay).toBeGreaterThanOrEqual(cap / 2);
      expect(backoff.delay).toBeLessThanOrEqual(cap);
      backoff = backoff.next();
    }
  });

  it('puts the lowest random value at half the ceiling', () => {
    const backoff = exponentialBackoff({ initialMs: 1_000, maxMs: THIRTY_MIN, random: () => 0 });
    expect(delays(backoff, 3)).toEqual([500, 1_000, 2_000]);
  });

  it('keeps the bounds even when the injected random misbehaves', () => {
    for (const bad of [-1, 2, Number.NaN, Number.POSITIVE_INFINITY]) {
      const { delay } = exponentialBackoff({ initialMs: 1_000, maxMs: THIRTY_MIN, random: () => bad });
      expect(delay).toBeGreaterThanOrEqual(500);
      expect(delay).toBeLessThanOrEqual(1_000);
    }
  });

  it('is immutable: next() returns a new value and leaves the old one as it was', () => {
    const values = [0.1, 0.9];
    const first = exponentialBackoff({ initialMs: 1_000, maxMs: THIRTY_MIN, random: () => values.shift() ?? 0 });
    const second = first.next();
    expect(second).not.toBe(first);
    expect(first).toMatchObject({ attempt: 0, delay: 550 });
    expect(second).toMatchObject({ attempt: 1, delay: 1_900 });
    expect(Object.isFrozen(first)).toBe(true);
    expect(() => {
      (first as { delay: number }).delay = 0;
    }).toThrow(TypeError);
  });

  it('resumes from a persisted attempt after a worker restart', () => {
    const resumed = exponentialBackoff({ initialMs: 1_000, maxMs: THIRTY_MIN, random: () => 1, attempt: 4 });
    expect(resumed).toMatchObject({ attempt: 4, delay: 16_000 });
    expect(resumed.next()).toMatchObject({ attempt: 5, delay: 32_000 });
  });

  it('rejects bad options with a RangeError naming the value', () => {
    const ok = { initialMs: 1_000, maxMs: THIRTY_MIN };
    expect(() => exponentialBackoff({ ...ok, initialMs: 0 })).toThrow(/initialMs.*: 0/);
    expect(() => exponentialBackoff({ ...ok, initialMs: Number.NaN })).toThrow(RangeError);
    expect(() => exponentialBackoff({ ...ok, maxMs: 999 })).toThrow(/maxMs.*: 999/);
    expect(() => exponentialBackoff({ ...ok, maxMs: Number.POSITIVE_INFINITY })).toThrow(/Infinity/);
    expect(() => exponentialBackoff({ ...ok, factor: 0.5 })).toThrow(/factor.*: 0.5/);
    expect(() => exponentialBackoff({ ...ok, attempt: -1 })).toThrow(/attempt.*: -1/);
    expect(() => exponentialBackoff({ ...ok, attempt: 1.5 })).toThrow(RangeError);
  });
});
