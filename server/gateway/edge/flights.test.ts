import { describe, expect, it } from 'vitest';
import { Flights } from './flights';

/** A read the test settles by hand, with the signal it was given. */
function handRead() {
  const read: { signal?: AbortSignal; settle: (value: string) => void; starts: number } = { settle: () => undefined, starts: 0 };
  const start = (signal: AbortSignal) => {
    read.starts++;
    read.signal = signal;
    return new Promise<string>((resolve) => {
      read.settle = resolve;
    });
  };
  return { read, start };
}

describe('the reads under way', () => {
  it('starts one read for everyone asking for a key meanwhile', async () => {
    const flights = new Flights<string>();
    const { read, start } = handRead();
    const first = flights.join('k', start);
    const second = flights.join('k', start);
    expect(read.starts).toBe(1);
    expect([first.isCoalesced, second.isCoalesced]).toEqual([false, true]);
    read.settle('answer');
    expect(await Promise.all([first.outcome, second.outcome])).toEqual(['answer', 'answer']);
  });

  it('forgets a read once it settled, so the next asker starts afresh', async () => {
    const flights = new Flights<string>();
    const { read, start } = handRead();
    const first = flights.join('k', start);
    read.settle('one');
    await first.outcome;
    expect(flights.size).toBe(0);
    flights.join('k', start);
    expect(read.starts).toBe(2);
  });

  it('aborts a read when every asker left before it settled, and the next asker starts a new one', () => {
    const flights = new Flights<string>();
    const { read, start } = handRead();
    const first = flights.join('k', start);
    const second = flights.join('k', start);
    const signal = read.signal!;
    first.leave();
    first.leave();
    expect(signal.aborted).toBe(false);
    second.leave();
    expect(signal.aborted).toBe(true);
    expect(flights.size).toBe(0);
    expect(flights.join('k', start).isCoalesced).toBe(false);
    expect(read.starts).toBe(2);
  });

  it('ignores a leave after the read settled', async () => {
    const flights = new Flights<string>();
    const { read, start } = handRead();
    const first = flights.join('k', start);
    const signal = read.signal!;
    read.settle('done');
    await first.outcome;
    await Promise.resolve();
    first.leave();
    expect(signal.aborted).toBe(false);
  });
});
