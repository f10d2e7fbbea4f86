import { describe, expect, it } from 'vitest';
import {
  cursorOf,
  deltaSince,
  evictLogs,
  isListed,
  listUnder,
  logStats,
  markDue,
  memoriesWindow,
  newSyncState,
  noteAgents,
  noteMemories,
  ReadyAnswers,
  type SyncSource,
  sinceOf,
  syncJson,
} from './sync-log';

const EPOCH = '0123456789ab';
let etags = 0;
/** An edge answer holding `list`, read at `storedAt`, with a fresh ETag unless given. */
const source = (list: unknown[], storedAt = 0, etag = `"e${++etags}"`): SyncSource => ({ etag, storedAt, list: () => list });
const memory = (id: string, text: string) => ({ id, content: { text } });
const answerAt = (state: ReturnType<typeof newSyncState>, agentId: string, cursor?: string) => {
  const since = sinceOf(state, cursor);
  if (since === 'ahead') throw new Error('ahead');
  const log = state.logs.get(agentId);
  return JSON.parse(syncJson(state, log, deltaSince(since, log)));
};

describe('the sync log', () => {
  it('answers a browser without a cursor with everything, and one at the latest cursor with nothing', () => {
    const state = newSyncState(EPOCH);
    noteAgents(state, source([{ id: 'A-1' }]));
    noteMemories(state, 'a-1', source([memory('m1', 'hi')]), 0);
    const reset = answerAt(state, 'a-1');
    expect(reset).toEqual({ cursor: `${EPOCH}.2`, reset: true, agents: [{ id: 'A-1' }], memories: [memory('m1', 'hi')], removed: [] });
    expect(answerAt(state, 'a-1', reset.cursor)).toEqual({ cursor: reset.cursor, reset: false, agents: null, memories: [], removed: [] });
  });

  it('gives a browser only the memories added, edited and deleted since its cursor, under one new sequence number', () => {
    const state = newSyncState(EPOCH);
    noteAgents(state, source([{ id: 'a-1' }]));
    noteMemories(state, 'a-1', source([memory('m1', 'hi'), memory('m2', 'there')]), 0);
    const before = cursorOf(state);
    const { isNews } = noteMemories(state, 'a-1', source([memory('m2', 'there, edited'), memory('m3', 'new')]), 0);
    expect(isNews).toBe(true);
    expect(state.seq).toBe(3);
    expect(answerAt(state, 'a-1', before)).toEqual({
      cursor: `${EPOCH}.3`,
      reset: false,
      agents: null,
      memories: [memory('m2', 'there, edited'), memory('m3', 'new')],
      removed: ['m1'],
    });
  });

  it('changes nothing for the same answer again, nor for a new answer with the same memories', () => {
    const state = newSyncState(EPOCH);
    const first = source([memory('m1', 'hi')], 100, '"same"');
    noteMemories(state, 'a-1', first, 0);
    const seq = state.seq;
    expect(noteMemories(state, 'a-1', source([memory('m1', 'hi')], 200, '"same"'), 5).isNews).toBe(false);
    expect(noteMemories(state, 'a-1', source([memory('m1', 'hi')], 300), 6).isNews).toBe(false);
    expect(state.seq).toBe(seq);
    expect(state.logs.get('a-1')).toMatchObject({ readAt: 300, usedAt: 6 });
  });

  it('is no news when an agent’s log is new, and resets the cursors from before it', () => {
    const state = newSyncState(EPOCH);
    noteAgents(state, source([{ id: 'a-1' }]));
    const before = cursorOf(state);
    expect(noteMemories(state, 'a-1', source([memory('m1', 'hi')]), 0).isNews).toBe(false);
    expect(answerAt(state, 'a-1', before)).toMatchObject({ reset: true, memories: [memory('m1', 'hi')] });
  });

  it('resets a cursor older than the oldest tombstone it still keeps', () => {
    const state = newSyncState(EPOCH);
    noteMemories(state, 'a-1', source([memory('m1', 'a'), memory('m2', 'b'), memory('m3', 'c')]), 0);
    const old = cursorOf(state);
    noteMemories(state, 'a-1', source([memory('m2', 'b'), memory('m3', 'c')]), 0, 1);
    const middle = cursorOf(state);
    noteMemories(state, 'a-1', source([memory('m3', 'c')]), 0, 1);
    expect(state.logs.get('a-1')!.tombstones.size).toBe(1);
    expect(answerAt(state, 'a-1', old)).toMatchObject({ reset: true });
    expect(answerAt(state, 'a-1', middle)).toMatchObject({ reset: false, removed: ['m2'] });
  });

  it('counts a memory deleted and added back once, with no tombstone', () => {
    const state = newSyncState(EPOCH);
    noteMemories(state, 'a-1', source([memory('m1', 'a')]), 0);
    noteMemories(state, 'a-1', source([]), 0);
    noteMemories(state, 'a-1', source([memory('m1', 'a')]), 0);
    expect(logStats(state)).toEqual({ agents: 1, memories: 1, tombstones: 0, bytes: JSON.stringify(memory('m1', 'a')).length + 2 });
  });

  it('sends the agent list only when it changed since the cursor, and knows who is listed', () => {
    const state = newSyncState(EPOCH);
    noteAgents(state, source([{ id: 'A-1' }]));
    const cursor = cursorOf(state);
    noteAgents(state, source([{ id: 'A-1' }]));
    expect(cursorOf(state)).toBe(cursor);
    expect(isListed(state, 'a-1')).toBe(true);
    noteAgents(state, source([{ id: 'b-2' }]));
    expect(JSON.parse(syncJson(state, undefined, 1))).toMatchObject({ agents: [{ id: 'b-2' }], memories: null });
    expect(isListed(state, 'a-1')).toBe(false);
  });
});

describe('the cursor rules', () => {
  it('takes its own cursors, resets another gateway’s or none, and refuses one ahead of it', () => {
    const state = newSyncState(EPOCH);
    state.seq = 7;
    expect(sinceOf(state, `${EPOCH}.7`)).toBe(7);
    expect(sinceOf(state, `${EPOCH}.0`)).toBe(0);
    expect(sinceOf(state, 'ffffffffffff.3')).toBeUndefined();
    expect(sinceOf(state, undefined)).toBeUndefined();
    expect(sinceOf(state, `${EPOCH}.8`)).toBe('ahead');
  });
});

describe('the window of an agent’s next memories read', () => {
  it('is the edge’s, until a message is heard after the kept copy was read: then one read upstream per slot', () => {
    const state = newSyncState(EPOCH);
    noteMemories(state, 'a-1', source([], 10_000), 10_000);
    const log = () => state.logs.get('a-1');
    expect(memoriesWindow(log(), 1_000, 10_500)).toBe(1_000);
    markDue(state, 'A-1', 10_600);
    // Heard in the slot the copy was read in: that slot has had its read.
    expect(memoriesWindow(log(), 1_000, 10_700)).toBe(1_000);
    expect(memoriesWindow(log(), 1_000, 11_100)).toBe(0);
    expect(memoriesWindow(log(), 1_000, 11_200)).toBe(1_000);
    // A read landing after the mark clears it.
    noteMemories(state, 'a-1', source([], 11_300), 11_300);
    expect(memoriesWindow(log(), 1_000, 12_100)).toBe(1_000);
  });

  it('is always 0 with no window, and the edge’s for an agent without a log', () => {
    expect(memoriesWindow(undefined, 1_000, 0)).toBe(1_000);
    expect(memoriesWindow(undefined, 0, 0)).toBe(0);
  });
});

describe('the logs’ bound', () => {
  it('drops the least recently used logs, never the one just used', () => {
    const state = newSyncState(EPOCH);
    noteMemories(state, 'a-1', source([memory('m1', 'x'.repeat(50))]), 1);
    noteMemories(state, 'a-2', source([memory('m2', 'y'.repeat(50))]), 2);
    noteMemories(state, 'a-3', source([memory('m3', 'z'.repeat(50))]), 3);
    noteMemories(state, 'a-1', source([memory('m1', 'x'.repeat(50))], 0, state.logs.get('a-1')!.sourceEtag), 4);
    evictLogs(state, 'a-3', 200);
    expect([...state.logs.keys()].sort()).toEqual(['a-1', 'a-3']);
    evictLogs(state, 'a-3', 1);
    expect([...state.logs.keys()]).toEqual(['a-3']);
  });
});

describe('the answers kept ready', () => {
  it('builds an answer once per state and key, and afresh once the state moves on', () => {
    const ready = new ReadyAnswers(2);
    let builds = 0;
    const build = () => `{"n":${++builds}}`;
    expect(ready.get(1, 'k', build).toString()).toBe('{"n":1}');
    expect(ready.get(1, 'k', build).toString()).toBe('{"n":1}');
    expect(ready.get(2, 'k', build).toString()).toBe('{"n":2}');
    ready.get(2, 'j', build);
    ready.get(2, 'i', build);
    expect(ready.get(2, 'k', build).toString()).toBe('{"n":5}');
  });
});

describe('an answer’s list', () => {
  it('is the list under data.<key>, else empty', () => {
    expect(listUnder({ data: { memories: [1] } }, 'memories')).toEqual([1]);
    expect(listUnder({ data: { memories: 'x' } }, 'memories')).toEqual([]);
    expect(listUnder(null, 'memories')).toEqual([]);
  });
});
