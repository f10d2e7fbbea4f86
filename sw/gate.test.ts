import { describe, expect, it } from 'vitest';
import { PurlError } from '../src/shared/errors';
import { CircuitBreaker } from './breaker';
import { Gate, type GateStore } from './gate';

const T0 = 1_000_000;
const OPTIONS = { threshold: 2, timeoutMs: 10_000 };

function harness() {
  const clock = { now: T0 };
  const gate = new Gate({ now: () => clock.now, random: () => 1 }, OPTIONS);
  const recovered: number[] = [];
  gate.onRecovered(() => recovered.push(clock.now));
  return { clock, gate, recovered };
}

const code = (run: () => void) => {
  try {
    run();
    return 'allowed';
  } catch (error) {
    return error instanceof PurlError ? error.code : String(error);
  }
};

describe('the gate', () => {
  it('holds everything until the Retry-After of a 429, and says until when', () => {
    const { clock, gate } = harness();
    gate.answered(429, { retryAt: T0 + 30_000 }, T0);
    expect(gate.notBefore()).toBe(T0 + 30_000);
    expect(code(() => gate.admit())).toBe('rate-limited');
    clock.now = T0 + 30_000;
    expect(code(() => gate.admit())).toBe('allowed');
  });

  it('holds everything until the probe while the breaker is open, and while the probe is out', () => {
    const { clock, gate } = harness();
    gate.unanswered(T0, true);
    gate.answered(503, {}, T0);
    expect(gate.notBefore()).toBe(T0 + 10_000);
    expect(code(() => gate.admit())).toBe('breaker-open');
    clock.now = T0 + 10_000;
    expect(code(() => gate.admit())).toBe('allowed');
    // The probe is out: nobody else goes until it reports (or is presumed lost).
    expect(gate.notBefore()).toBe(T0 + 20_000);
  });

  it('knows since when requests fail, and forgets it on a success', () => {
    const { gate } = harness();
    expect(gate.failingSince()).toBeUndefined();
    gate.unanswered(T0 + 5, true);
    expect(gate.failingSince()).toBe(T0 + 5);
    gate.unanswered(T0 + 9, false);
    expect(gate.failingSince()).toBe(T0 + 5);
    gate.answered(200, {}, T0 + 10);
    expect(gate.failingSince()).toBeUndefined();
  });

  it('opens the breaker when the health check says down while requests fail, and not otherwise', () => {
    const { gate } = harness();
    gate.serverDown(T0);
    expect(gate.view().state).toBe('closed');
    gate.answered(500, {}, T0 - 1);
    expect(gate.view().state).toBe('closed');
    gate.serverDown(T0);
    expect(gate.view()).toMatchObject({ state: 'open', openedAt: T0 });
  });

  it('lets the probe go at once when the health check says the server is back, and tells who listens once it answers', () => {
    const { clock, gate, recovered } = harness();
    gate.answered(503, {}, T0);
    gate.answered(503, {}, T0);
    clock.now = T0 + 1_000;
    gate.serverBack(clock.now);
    expect(gate.notBefore()).toBeLessThanOrEqual(clock.now);
    gate.admit();
    expect(recovered).toEqual([]);
    gate.answered(200, {}, clock.now);
    expect(recovered).toEqual([T0 + 1_000]);
    expect(gate.view()).toEqual({ state: 'closed', failures: 0 });
  });

  it('restores the breaker and Retry-After an earlier worker saved, and saves each new Retry-After', async () => {
    const { clock, gate } = harness();
    const saved: number[] = [];
    const store: GateStore = {
      load: async () => ({ retryAt: T0 + 5_000, breaker: new CircuitBreaker(OPTIONS, { state: 'open', openedAt: T0 - 1_000 }) }),
      saveRetryAt: (at) => saved.push(at),
    };
    await gate.restore(store);
    expect(gate.retryAt).toBe(T0 + 5_000);
    expect(gate.failingSince()).toBe(T0 - 1_000);
    expect(gate.notBefore()).toBe(T0 + 9_000);
    clock.now = T0 + 9_000;
    gate.admit();
    gate.answered(429, { retryAt: T0 + 20_000 }, clock.now);
    expect(saved).toEqual([T0 + 20_000]);
  });

  it('counts an answer refused at the door as a failure whatever its status, and still obeys its Retry-After', () => {
    const { gate } = harness();
    gate.refused(200, {}, T0);
    expect(gate.failingSince()).toBe(T0);
    expect(gate.view()).toEqual({ state: 'closed', failures: 1 });
    gate.refused(429, { retryAt: T0 + 7_000 }, T0 + 1);
    expect(gate.retryAt).toBe(T0 + 7_000);
    expect(gate.view().state).toBe('open');
  });
});

describe('the gate behind a gateway that shares one upstream budget', () => {
  it('while nothing may go upstream, holds messages and the chat until the Retry-After, but not the reads the edge answers', () => {
    const { clock, gate } = harness();
    gate.answered(429, { retryAt: T0 + 30_000 }, T0, 'empty');
    expect(code(() => gate.admit('message'))).toBe('rate-limited');
    expect(code(() => gate.admit('own-read'))).toBe('rate-limited');
    expect(code(() => gate.admit('shared-read'))).toBe('allowed');
    expect(gate.notBefore('message')).toBe(T0 + 30_000);
    expect(gate.notBefore('shared-read')).toBeLessThanOrEqual(T0);
    expect(gate.retryAt).toBe(T0 + 30_000);
    clock.now = T0 + 30_000;
    expect(code(() => gate.admit())).toBe('allowed');
  });

  it('while only messages may go upstream, holds the chat until the Retry-After and lets messages go', () => {
    const { gate } = harness();
    gate.answered(429, { retryAt: T0 + 600_000 }, T0, 'reserve');
    expect(code(() => gate.admit('message'))).toBe('allowed');
    expect(code(() => gate.admit('shared-read'))).toBe('allowed');
    expect(code(() => gate.admit('own-read'))).toBe('rate-limited');
    expect(gate.notBefore('own-read')).toBe(T0 + 600_000);
    expect(gate.budgetHolds).toEqual({ message: 0, 'own-read': T0 + 600_000 });
  });

  it('counts the gateway keeping the budget as an answer, not a failure: the breaker stays closed', () => {
    const { gate } = harness();
    gate.unanswered(T0, true);
    for (let i = 0; i < 5; i += 1) gate.answered(429, { retryAt: T0 + 1_000 }, T0 + i, i % 2 ? 'reserve' : 'empty');
    expect(gate.view()).toEqual({ state: 'closed', failures: 0 });
    expect(gate.failingSince()).toBeUndefined();
  });

  it('holds everything after a 429 of any other limit, the gateway’s own per-client limit included', () => {
    const { gate } = harness();
    gate.answered(429, { retryAt: T0 + 10_000 }, T0, 'plenty');
    expect(code(() => gate.admit('shared-read'))).toBe('rate-limited');
    expect(gate.notBefore('shared-read')).toBe(T0 + 10_000);
  });
});
