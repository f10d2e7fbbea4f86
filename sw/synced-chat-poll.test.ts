import { describe, expect, it } from 'vitest';
import type { ChatSession, SyncChatPart } from '../src/shared/api';
import { PurlError } from '../src/shared/errors';
import type { ChatPoll } from './chat-poll';
import type { PollResult } from './poller';
import type { Refreshed } from './sync';
import { createSyncedChatPoll } from './synced-chat-poll';

const SESSION: ChatSession = { sessionId: 's1', channelId: 'c1', agentId: 'a1', userId: 'u1' };
const PART: SyncChatPart = { body: { messages: [] } };

/** A chat poll over fakes: what each step was asked is logged. */
function harness(options: { carriesChat?: boolean; session?: ChatSession; refreshed?: () => Promise<Refreshed | undefined> }) {
  const log: string[] = [];
  const pollChat = Object.assign(
    async (): Promise<PollResult> => {
      log.push('chat route');
      return 'unchanged';
    },
    {
      deliver: async (session: ChatSession, part: SyncChatPart): Promise<PollResult> => {
        log.push(`deliver ${session.sessionId} ${part === PART ? 'part' : '?'}`);
        return 'changed';
      },
      failed: async (error: unknown): Promise<never> => {
        log.push('failed');
        throw error;
      },
      replyArrived: async () => undefined,
    },
  ) satisfies ChatPoll;
  const poll = createSyncedChatPoll({
    carriesChat: () => options.carriesChat ?? true,
    chat: { session: async () => ('session' in options ? options.session : SESSION) },
    sync: {
      refreshWithChat: async (session, priority) => {
        log.push(`sync ${session.sessionId} ${priority}`);
        return (options.refreshed ?? (async () => ({ outcome: 'changed' as const, chat: PART })))();
      },
    },
    pollChat,
  });
  const polls = { notePolled: async (kind: string, result: unknown) => void log.push(`noted ${kind} ${JSON.stringify(result)}`) };
  return { poll: () => poll(polls), log };
}

describe('the chat poll through the sync route', () => {
  it('brings the memories in the same request, and tells the poller their poll is done', async () => {
    const { poll, log } = harness({});
    expect(await poll()).toBe('changed');
    expect(log).toEqual(['sync s1 memories', 'noted memories "changed"', 'deliver s1 part']);
  });

  it('reads the chat route when the sync route does not carry the chat (no edge behind it)', async () => {
    const { poll, log } = harness({ carriesChat: false });
    expect(await poll()).toBe('unchanged');
    expect(log).toEqual(['chat route']);
  });

  it('reads the chat route when no session is open, or a sync is already under way', async () => {
    const none = harness({ session: undefined });
    await none.poll();
    expect(none.log).toEqual(['chat route']);
    const busy = harness({ refreshed: async () => undefined });
    await busy.poll();
    expect(busy.log).toEqual(['sync s1 memories', 'chat route']);
  });

  it('asks the chat route why when the gateway left the chat out, the memories counted as polled', async () => {
    const { poll, log } = harness({ refreshed: async () => ({ outcome: 'unchanged' }) });
    await poll();
    expect(log).toEqual(['sync s1 memories', 'noted memories "unchanged"', 'chat route']);
  });

  it('counts a failed sync against both polls, and rejects with its error', async () => {
    const failure = new PurlError('http-error', 'HTTP 500');
    const { poll, log } = harness({ refreshed: () => Promise.reject(failure) });
    await expect(poll()).rejects.toBe(failure);
    expect(log).toEqual(['sync s1 memories', 'noted memories "error"', 'failed']);
  });
});
