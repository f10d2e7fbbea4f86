import { describe, expect, it } from 'vitest';
import { ReplayLog, type ReplayLogOptions } from './replay-log';

const EPOCH = '0123456789ab';
const A = 'c0c0c0c0-0000-4000-8000-00000000000a';
const B = 'c0c0c0c0-0000-4000-8000-00000000000b';
const SESSIONS = new Map([
  [A, 'session-a'],
  [B, 'session-b'],
]);

function logAt(options: Partial<ReplayLogOptions> = {}) {
  const clock = { now: 1_000_000 };
  const log = new ReplayLog({ epoch: EPOCH, now: () => clock.now, ...options });
  return { log, clock };
}

/** The replay as [session, seq] pairs. */
const pairs = (log: ReplayLog, lastEventId: string | undefined, sessions = SESSIONS) => {
  const { reset, events } = log.replay(lastEventId, sessions);
  return { reset, events: events.map(({ sessionId, event }) => [sessionId, event.seq]) };
};

describe('the replay log', () => {
  it('numbers the messages of joined channels in one sequence and keeps none of a channel never joined', () => {
    const { log } = logAt();
    expect(log.position).toBe(`${EPOCH}.0`);
    expect(log.append(A, '"x"')).toBeUndefined();
    expect(log.join(A)).toBe('first');
    expect(log.join(B)).toBe('first');
    const first = log.append(A, '"1"')!;
    const second = log.append(B, '"2"')!;
    expect([first.seq, second.seq]).toEqual([1, 2]);
    expect(log.idOf(second)).toBe(`${EPOCH}.2`);
    expect(log.position).toBe(`${EPOCH}.2`);
  });

  it('replays what came after an id, across channels, in the order heard; nothing without an id', () => {
    const { log } = logAt();
    log.join(A);
    log.join(B);
    for (const channelId of [A, B, A, B]) log.append(channelId, '{}');
    expect(pairs(log, `${EPOCH}.1`)).toEqual({
      reset: [],
      events: [
        ['session-b', 2],
        ['session-a', 3],
        ['session-b', 4],
      ],
    });
    expect(pairs(log, `${EPOCH}.4`)).toEqual({ reset: [], events: [] });
    expect(pairs(log, undefined)).toEqual({ reset: [], events: [] });
    expect(log.replay(`${EPOCH}.3`, new Map([[B, 'session-b']])).events[0]!.event.json).toBe('{}');
  });

  it('resets every session for an id of another epoch, an id ahead of the log, or one that is not an id', () => {
    const { log } = logAt();
    log.join(A);
    log.join(B);
    log.append(A, '{}');
    for (const id of ['ffffffffffff.1', `${EPOCH}.2`, 'nonsense']) expect(pairs(log, id)).toEqual({ reset: ['session-a', 'session-b'], events: [] });
  });

  it('resets a channel never joined, and a channel joined again since the id (what was said in between was not heard)', () => {
    const { log } = logAt();
    log.join(A);
    log.append(A, '{}');
    expect(pairs(log, `${EPOCH}.1`)).toEqual({ reset: ['session-b'], events: [] });
    log.join(B);
    log.append(B, '{}');
    expect(log.join(A)).toBe('again');
    log.append(A, '{}');
    // A is complete from 2 on: an id before that is reset, one at or after it replayed.
    expect(pairs(log, `${EPOCH}.1`)).toEqual({ reset: ['session-a'], events: [['session-b', 2]] });
    expect(pairs(log, `${EPOCH}.2`)).toEqual({ reset: [], events: [['session-a', 3]] });
  });

  it('keeps the last keepEvents of a channel: an id older than those is reset, the others still replayed', () => {
    const { log } = logAt({ keepEvents: 3 });
    log.join(A);
    log.join(B);
    log.append(B, '{}');
    for (let i = 0; i < 4; i++) log.append(A, '{}');
    // A dropped 2 (complete from 2 on); B keeps 1.
    expect(pairs(log, `${EPOCH}.1`)).toEqual({ reset: ['session-a'], events: [] });
    expect(pairs(log, `${EPOCH}.0`)).toEqual({ reset: ['session-a'], events: [['session-b', 1]] });
    expect(pairs(log, `${EPOCH}.2`)).toEqual({
      reset: [],
      events: [
        ['session-a', 3],
        ['session-a', 4],
        ['session-a', 5],
      ],
    });
  });

  it('forgets events older than keepMs by the clock it is given', () => {
    const { log, clock } = logAt({ keepMs: 60_000 });
    log.join(A);
    log.append(A, '{}');
    clock.now += 30_000;
    log.append(A, '{}');
    clock.now += 30_001;
    expect(pairs(log, `${EPOCH}.0`, new Map([[A, 'session-a']]))).toEqual({ reset: ['session-a'], events: [] });
    expect(pairs(log, `${EPOCH}.1`, new Map([[A, 'session-a']]))).toEqual({ reset: [], events: [['session-a', 2]] });
    clock.now += 30_000;
    expect(pairs(log, `${EPOCH}.1`, new Map([[A, 'session-a']]))).toEqual({ reset: ['session-a'], events: [] });
    expect(pairs(log, `${EPOCH}.2`, new Map([[A, 'session-a']]))).toEqual({ reset: [], events: [] });
  });

  it('sweeps the empty logs of channels no longer wanted, and keeps the wanted and the non-empty', () => {
    const { log, clock } = logAt({ keepMs: 1_000 });
    log.join(A);
    log.join(B);
    log.append(B, '{}');
    log.sweep(() => false);
    expect([log.has(A), log.has(B)]).toEqual([false, true]);
    clock.now += 1_001;
    log.sweep((channelId) => channelId === B);
    expect(log.has(B)).toBe(true);
    log.sweep(() => false);
    expect(log.has(B)).toBe(false);
    // Swept, then joined again: a first join, complete from now.
    expect(log.join(B)).toBe('first');
    expect(pairs(log, `${EPOCH}.0`, new Map([[B, 'session-b']]))).toEqual({ reset: ['session-b'], events: [] });
  });

  it('refuses options out of range with the value', () => {
    const now = () => 0;
    expect(() => new ReplayLog({ epoch: 'EPOCH', now })).toThrowError(RangeError);
    expect(() => new ReplayLog({ epoch: EPOCH, now, keepEvents: -1 })).toThrowError(/keepEvents is out of range: -1/);
    expect(() => new ReplayLog({ epoch: EPOCH, now, keepMs: Number.NaN })).toThrowError(/keepMs is out of range: NaN/);
  });
});
