import { describe, expect, it } from 'vitest';
import {
  ANNOUNCE_MS,
  ANNOUNCE_RENEW_MS,
  Announcements,
  ClusterView,
  Coverage,
  isUnsent,
  openOnLog,
  replayFromRange,
  type StreamMark,
  UNCONFIRMED_MS,
  Unconfirmed,
} from './cluster-push-state';
import type { MessageEntry } from './push-log';

const EPOCH = '0123456789ab';
const OTHER_EPOCH = 'ba9876543210';
const A = 'c0c0c0c0-0000-4000-8000-00000000000a';
const B = 'c0c0c0c0-0000-4000-8000-00000000000b';
const SESSIONS = new Map([
  [A, 'session-a'],
  [B, 'session-b'],
]);
const kept = (seq: number, at: number) => ({ seq, at, json: '{}' });
const entry = (n: number, channelId = A): MessageEntry => ({ kind: 'message', n, channelId, messageId: `m${n}`, json: '{}' });

describe('coverage of channels', () => {
  it('covers a channel from the log number it was heard from, and forgets it when told', () => {
    const coverage = new Coverage();
    expect(coverage.covers(A, 10)).toBe(false);
    coverage.set(A, 5);
    coverage.set(B, 8);
    expect([coverage.covers(A, 4), coverage.covers(A, 5), coverage.covers(A, 9)]).toEqual([false, true, true]);
    expect(coverage.count((channelId) => channelId === A)).toBe(1);
    coverage.delete(A);
    expect(coverage.covers(A, 9)).toBe(false);
    coverage.clear();
    expect(coverage.count(() => true)).toBe(0);
  });
});

describe('announcements', () => {
  it('announces a channel once per renewal period, and again after it ran out or was cleared', () => {
    const announced = new Announcements();
    expect(announced.due([A, B], 0)).toEqual({ channelIds: [A, B], until: ANNOUNCE_MS });
    expect(announced.due([A, B], ANNOUNCE_RENEW_MS).channelIds).toEqual([]);
    expect(announced.due([A], ANNOUNCE_RENEW_MS + 1).channelIds).toEqual([A]);
    // B ran out (and is forgotten); A, renewed, has less than the renewal margin left.
    announced.expire(ANNOUNCE_MS);
    expect(announced.due([A, B], ANNOUNCE_MS).channelIds).toEqual([A, B]);
    announced.clear();
    expect(announced.due([A], ANNOUNCE_MS + 1).channelIds).toEqual([A]);
  });
});

describe('unconfirmed messages', () => {
  it('are taken once: when read back, when overdue, or all at once', () => {
    const unconfirmed = new Unconfirmed();
    unconfirmed.add(A, 'm1', kept(1, 0));
    unconfirmed.add(B, 'm2', kept(2, 1_000));
    unconfirmed.add(A, 'm3', kept(3, 2_000));
    expect(unconfirmed.take(A, 'm1')).toEqual({ channelId: A, kept: kept(1, 0) });
    expect(unconfirmed.take(A, 'm1')).toBeUndefined();
    expect(unconfirmed.takeOverdue(1_000 + UNCONFIRMED_MS)).toEqual([]);
    expect(unconfirmed.takeOverdue(1_001 + UNCONFIRMED_MS)).toEqual([{ channelId: B, kept: kept(2, 1_000) }]);
    expect(unconfirmed.takeAll()).toEqual([{ channelId: A, kept: kept(3, 2_000) }]);
    expect(unconfirmed.takeAll()).toEqual([]);
  });
});

describe('the cluster view', () => {
  it('follows from where the log first stood, and on the same epoch reads on from where it stopped', () => {
    const view = new ClusterView();
    expect(view.position).toBeUndefined();
    expect(view.resume({ epoch: EPOCH, n: 7 })).toEqual({ epoch: EPOCH, n: 7 });
    view.follow();
    view.advance(9);
    view.advance(8);
    expect(view.position).toEqual({ epoch: EPOCH, n: 9 });
    view.leave();
    expect(view.following).toBe(false);
    expect(view.resume({ epoch: EPOCH, n: 20 })).toEqual({ epoch: EPOCH, n: 9 });
  });

  it('on leaving the log, gives back what was appended and not read back, and vouches for nothing heard before', () => {
    const view = new ClusterView();
    view.resume({ epoch: EPOCH, n: 0 });
    view.follow();
    view.coverage.set(A, 0);
    view.announcements.due([A], 0);
    view.unconfirmed.add(A, 'm1', kept(1, 0));
    expect(view.leave()).toEqual([{ channelId: A, kept: kept(1, 0) }]);
    expect(view.coverage.covers(A, 5)).toBe(false);
    expect(view.announcements.due([A], 1).channelIds).toEqual([A]);
    // Left already: nothing more to give.
    view.unconfirmed.add(A, 'm2', kept(2, 0));
    expect(view.leave()).toEqual([]);
  });

  it('takes a new epoch from its start, with a new position, and forgets coverage; the same epoch changes nothing', () => {
    const view = new ClusterView();
    const first = view.resume({ epoch: EPOCH, n: 4 });
    view.coverage.set(A, 2);
    view.newEpoch(EPOCH);
    expect(view.position).toBe(first);
    expect(view.coverage.covers(A, 3)).toBe(true);
    view.newEpoch(OTHER_EPOCH);
    expect(view.position).not.toBe(first);
    expect(view.position).toEqual({ epoch: OTHER_EPOCH, n: 0 });
    expect(view.coverage.covers(A, 3)).toBe(false);
    expect(view.resume({ epoch: EPOCH, n: 40 })).toEqual({ epoch: EPOCH, n: 0 });
  });
});

describe('stream marks', () => {
  it('write each entry once, in a new epoch from 1 again', () => {
    const mark: StreamMark = { lastSent: 0 };
    expect([isUnsent(mark, EPOCH, 1), isUnsent(mark, EPOCH, 1), isUnsent(mark, EPOCH, 3), isUnsent(mark, EPOCH, 2)]).toEqual([true, false, true, false]);
    expect(isUnsent(mark, OTHER_EPOCH, 1)).toBe(true);
    expect(mark).toEqual({ epoch: OTHER_EPOCH, lastSent: 1 });
  });
});

describe('opening a stream on the log', () => {
  const coveredA = (channelId: string, since: number) => channelId === A && since >= 3;

  it('starts at the log’s position without an id, and resets every session for an id of another epoch', () => {
    expect(openOnLog(undefined, { epoch: EPOCH, n: 12 }, SESSIONS, coveredA)).toEqual({
      helloId: `${EPOCH}.12`,
      mark: { epoch: EPOCH, lastSent: 12 },
      reset: [],
      replay: new Set(),
      since: 12,
    });
    expect(openOnLog(`${OTHER_EPOCH}.3`, { epoch: EPOCH, n: 12 }, SESSIONS, coveredA)).toMatchObject({
      helloId: `${EPOCH}.12`,
      reset: ['session-a', 'session-b'],
    });
  });

  it('replays the channels covered since the id and resets the others', () => {
    const opening = openOnLog(`${EPOCH}.5`, { epoch: EPOCH, n: 12 }, SESSIONS, coveredA);
    expect(opening).toEqual({ helloId: `${EPOCH}.5`, mark: { epoch: EPOCH, lastSent: 5 }, reset: ['session-b'], replay: new Set([A]), since: 5 });
    expect(openOnLog(`${EPOCH}.2`, { epoch: EPOCH, n: 12 }, SESSIONS, coveredA).reset).toEqual(['session-a', 'session-b']);
  });

  it('takes the replay from the log’s range when it can be vouched for: messages of replayed channels only', () => {
    const opening = openOnLog(`${EPOCH}.5`, { epoch: EPOCH, n: 12 }, SESSIONS, coveredA);
    const notice = { kind: 'memories' as const, n: 7, agentId: A, cursor: `${EPOCH}.1` };
    const range = { epoch: EPOCH, n: 9, entries: [entry(6), entry(7, B), notice, entry(8)] };
    expect(replayFromRange(range, opening, EPOCH)).toEqual([entry(6), entry(8)]);
    expect(replayFromRange({ epoch: EPOCH, n: 9 }, opening, EPOCH)).toBeUndefined();
    expect(replayFromRange(undefined, opening, EPOCH)).toBeUndefined();
    expect(replayFromRange({ ...range, epoch: OTHER_EPOCH }, opening, EPOCH)).toBeUndefined();
    // The log stands behind the id (an id this epoch never gave): nothing to vouch for.
    expect(replayFromRange({ ...range, n: 4 }, opening, EPOCH)).toBeUndefined();
  });
});
