import { IDBFactory } from 'fake-indexeddb';
import { beforeEach, describe, expect, it } from 'vitest';
import { openPurlDB, type MetaValues } from '../src/shared/db';
import { PurlError } from '../src/shared/errors';
import { createChatPoll } from './chat-poll';

beforeEach(() => {
  globalThis.indexedDB = new IDBFactory();
});

async function harness(poll: () => Promise<'changed' | 'unchanged'>, recheckAt?: number, deliver = poll) {
  const db = await openPurlDB();
  const events: unknown[] = [];
  const clock = { now: 1_000_000 };
  const run = createChatPoll({
    chat: { poll, deliver: () => deliver() },
    replyWatch: { sent: () => 0, afterPoll: async () => recheckAt },
    getDb: async () => db,
    broadcast: (event) => events.push(event),
    now: () => clock.now,
  });
  return { db, events, clock, run };
}

describe('the chat poll', () => {
  it('keeps a failure for the banner, writing only when the failure starts, changes or ends', async () => {
    let answer: () => Promise<'changed' | 'unchanged'> = () => Promise.reject(new PurlError('http-error', 'HTTP 500'));
    const { db, events, clock, run } = await harness(() => answer());
    await expect(run()).rejects.toMatchObject({ code: 'http-error' });
    clock.now += 1_000;
    await expect(run()).rejects.toMatchObject({ code: 'http-error' });
    const failed = (await db.get('meta', 'chatPoll')) as MetaValues['chatPoll'];
    expect(failed).toEqual({ attemptedAt: 1_000_000, error: expect.stringMatching(/^Purl can't check the chat for new messages\./) });
    expect(events).toHaveLength(1);
    answer = async () => 'unchanged';
    clock.now += 1_000;
    expect(await run()).toBe('unchanged');
    expect(await db.get('meta', 'chatPoll')).toEqual({ attemptedAt: 1_002_000, succeededAt: 1_002_000 });
    expect(await run()).toBe('unchanged');
    expect(events).toHaveLength(2);
  });

  it('asks for the next poll by the time the reply watch says', async () => {
    const { run } = await harness(async () => 'unchanged', 1_001_000);
    expect(await run()).toEqual({ outcome: 'unchanged', dueBy: 1_001_000 });
  });

  it('takes a chat answer that came inside a sync with the same bookkeeping as its own poll', async () => {
    const session = { sessionId: 's', channelId: 'c', agentId: 'a', userId: 'u' };
    const { db, clock, run } = await harness(
      () => Promise.reject(new PurlError('network-error')),
      1_004_000,
      async () => 'changed',
    );
    await expect(run()).rejects.toMatchObject({ code: 'network-error' });
    clock.now += 1_000;
    // The failure the chat poll left is cleared by the answer that came with the sync.
    expect(await run.deliver(session, { body: { messages: [] } })).toEqual({ outcome: 'changed', dueBy: 1_004_000 });
    expect(await db.get('meta', 'chatPoll')).toEqual({ attemptedAt: 1_001_000, succeededAt: 1_001_000 });
  });
});
