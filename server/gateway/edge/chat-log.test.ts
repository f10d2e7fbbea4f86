import { describe, expect, it } from 'vitest';
import {
  addEntry,
  answerFromLog,
  beginRead,
  breakProof,
  endRead,
  entryOf,
  type HeardMessage,
  hear,
  listedOfPosted,
  newChatLogs,
  pageOf,
  postEnded,
  postStarted,
  sweepLogs,
} from './chat-log';

const SESSION = 'b3c2a1d0-0000-4000-8000-00000000000a';
const CHANNEL = 'c0c0c0c0-0000-4000-8000-0000000000c1';
const HORIZON = 600_000;

const said = (n: number, createdAt = 1_700_000_000_000 + n * 1_000): HeardMessage => ({
  id: `d0d0d0d0-0000-4000-8000-${String(n).padStart(12, '0')}`,
  content: `message ${n}`,
  authorId: 'e0e0e0e0-0000-4000-8000-0000000000e1',
  isAgent: n % 2 === 0,
  createdAt,
  metadata: {},
});
/** ElizaOS's sessions GET for these messages, newest first. */
const listing = (messages: HeardMessage[], hasMore = false) => ({
  messages: messages.map((message) => ({ ...message, createdAt: new Date(message.createdAt).toISOString() })).reverse(),
  hasMore,
});
const idsOf = (page: string | undefined) => (JSON.parse(page!) as { messages: { id: string }[] }).messages.map((message) => message.id);

/** A channel whose snapshot read listed `messages` at `at`. */
function snapshotOf(messages: HeardMessage[], at = 1_000, hasMore = false) {
  const state = newChatLogs(100, 1_000_000);
  const begun = beginRead(state, CHANNEL, at);
  expect(endRead(state, begun, SESSION, 200, listing(messages, hasMore), true, at + 10)).toBe(true);
  return state;
}

describe('the chat logs', () => {
  it('answer a read from a snapshot that listed the whole channel, newest first, in ElizaOS’s shape', () => {
    const state = snapshotOf([said(1), said(2)]);
    const page = answerFromLog(state, CHANNEL, 10, 2_000, HORIZON, true);
    expect(idsOf(page)).toEqual([said(2).id, said(1).id]);
    expect(JSON.parse(page!)).toMatchObject({ hasMore: false, cursors: { before: said(1).createdAt, after: said(2).createdAt } });
  });

  it('add what was heard after the snapshot, the last heard of an id winning', () => {
    const state = snapshotOf([said(1)]);
    hear(state, CHANNEL, said(2));
    hear(state, CHANNEL, { ...said(2), content: 'edited' });
    const page = JSON.parse(answerFromLog(state, CHANNEL, 10, 2_000, HORIZON, true)!) as { messages: { content: string }[] };
    expect(page.messages.map((message) => message.content)).toEqual(['edited', 'message 1']);
  });

  it('do not answer a limit the log does not cover unless the snapshot was the whole channel', () => {
    const partial = snapshotOf([said(1), said(2)], 1_000, true);
    expect(answerFromLog(partial, CHANNEL, 3, 2_000, HORIZON, true)).toBeUndefined();
    expect(JSON.parse(answerFromLog(partial, CHANNEL, 2, 2_000, HORIZON, true)!)).toMatchObject({ hasMore: true });
  });

  it('do not answer when the channel is not joined, past the horizon, or while a REST post is under way', () => {
    const state = snapshotOf([said(1)]);
    expect(answerFromLog(state, CHANNEL, 1, 2_000, HORIZON, false)).toBeUndefined();
    expect(answerFromLog(state, CHANNEL, 1, 1_000 + HORIZON, HORIZON, true)).toBeUndefined();
    postStarted(state, CHANNEL);
    expect(answerFromLog(state, CHANNEL, 1, 2_000, HORIZON, true)).toBeUndefined();
    hear(state, CHANNEL, said(2));
    postEnded(state, CHANNEL, true);
    expect(idsOf(answerFromLog(state, CHANNEL, 2, 2_000, HORIZON, true))).toEqual([said(2).id, said(1).id]);
  });

  it('answer nothing after a break in the proof until a read taken since', () => {
    const state = snapshotOf([said(1)]);
    breakProof(state.logs.get(CHANNEL));
    expect(answerFromLog(state, CHANNEL, 1, 2_000, HORIZON, true)).toBeUndefined();
    const begun = beginRead(state, CHANNEL, 3_000);
    endRead(state, begun, SESSION, 200, listing([said(1)]), true, 3_010);
    expect(answerFromLog(state, CHANNEL, 1, 3_100, HORIZON, true)).toBeDefined();
  });

  it('break the proof when a REST post ends without its answer heard', () => {
    const state = snapshotOf([said(1)]);
    postStarted(state, CHANNEL);
    postEnded(state, CHANNEL, false);
    expect(answerFromLog(state, CHANNEL, 1, 2_000, HORIZON, true)).toBeUndefined();
  });

  it('take no read as a snapshot when the proof broke, the channel left, or a later read landed meanwhile', () => {
    const state = snapshotOf([said(1)]);
    const broken = beginRead(state, CHANNEL, 2_000);
    breakProof(state.logs.get(CHANNEL));
    expect(endRead(state, broken, SESSION, 200, listing([said(1)]), true, 2_010)).toBe(false);
    expect(endRead(state, beginRead(state, CHANNEL, 2_000), SESSION, 200, listing([said(1)]), false, 2_010)).toBe(false);
    const older = beginRead(state, CHANNEL, 3_000);
    hear(state, CHANNEL, said(2));
    const newer = beginRead(state, CHANNEL, 3_100);
    expect(endRead(state, newer, SESSION, 200, listing([said(1), said(2)]), true, 3_200)).toBe(true);
    expect(endRead(state, older, SESSION, 200, listing([said(1)]), true, 3_300)).toBe(false);
    expect(idsOf(answerFromLog(state, CHANNEL, 2, 3_400, HORIZON, true))).toEqual([said(2).id, said(1).id]);
  });

  it('keep what was heard during a read, and refuse an answer the worker would refuse', () => {
    const state = newChatLogs(100, 1_000_000);
    const begun = beginRead(state, CHANNEL, 1_000);
    hear(state, CHANNEL, said(2));
    expect(endRead(state, begun, SESSION, 200, { messages: [{ id: 'not a message' }], hasMore: false }, true, 1_010)).toBe(false);
    expect(endRead(state, begun, SESSION, 200, listing([said(1)]), true, 1_020)).toBe(true);
    expect(idsOf(answerFromLog(state, CHANNEL, 2, 1_100, HORIZON, true))).toEqual([said(2).id, said(1).id]);
  });

  it('drop a session’s log when ElizaOS says it is gone', () => {
    const state = snapshotOf([said(1)]);
    endRead(state, beginRead(state, CHANNEL, 2_000), SESSION, 404, undefined, true, 2_010);
    expect(state.logs.size).toBe(0);
    expect(state.bytes).toBe(0);
  });

  it('keep the newest messages only, and no longer count as the whole channel once trimmed', () => {
    const state = newChatLogs(2, 1_000_000);
    const begun = beginRead(state, CHANNEL, 1_000);
    endRead(state, begun, SESSION, 200, listing([said(1)]), true, 1_010);
    hear(state, CHANNEL, said(2));
    hear(state, CHANNEL, said(3));
    const log = state.logs.get(CHANNEL)!;
    expect([...log.entries.keys()].sort()).toEqual([said(2).id, said(3).id]);
    expect(log.snapshot?.whole).toBe(false);
    expect(pageOf(log, 3)).toBeUndefined();
    expect(state.bytes).toBe(log.bytes);
  });

  it('drop the least recently used logs past the bound, and sweep the ones that can no longer answer', () => {
    // Room for two messages, not three.
    const state = newChatLogs(100, Math.floor(entryOf(said(1), 0).json.length * 2.5));
    const other = 'c0c0c0c0-0000-4000-8000-0000000000c2';
    endRead(state, beginRead(state, other, 1_000), SESSION, 200, listing([said(1)]), true, 1_000);
    endRead(state, beginRead(state, CHANNEL, 2_000), SESSION, 200, listing([said(2)]), true, 2_000);
    expect([...state.logs.keys()]).toEqual([other, CHANNEL]);
    addEntry(state, state.logs.get(CHANNEL)!, entryOf(said(3), ++state.seq));
    endRead(state, beginRead(state, CHANNEL, 3_000), SESSION, 200, listing([said(2), said(3)]), true, 3_000);
    expect([...state.logs.keys()]).toEqual([CHANNEL]);
    sweepLogs(state, 3_000 + HORIZON, HORIZON, () => true);
    expect(state.logs.size).toBe(0);
  });
});

describe('a REST message’s 201', () => {
  const answer = {
    userMessage: { id: said(1).id, channel_id: CHANNEL.toUpperCase(), author_id: said(1).authorId, content: 'hi', created_at: 5, metadata: { a: 1 } },
  };

  it('is the row as the sessions GET lists it, when it names the channel', () => {
    expect(listedOfPosted(answer, CHANNEL)).toEqual({
      id: said(1).id,
      content: 'hi',
      authorId: said(1).authorId,
      isAgent: false,
      createdAt: 5,
      metadata: { a: 1 },
    });
  });

  it('is nothing for another channel or a malformed row', () => {
    expect(listedOfPosted(answer, 'c0c0c0c0-0000-4000-8000-0000000000c2')).toBeUndefined();
    expect(listedOfPosted({ userMessage: { ...answer.userMessage, id: 'x' } }, CHANNEL)).toBeUndefined();
    expect(listedOfPosted({}, CHANNEL)).toBeUndefined();
  });
});
