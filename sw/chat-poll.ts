/**
 * The chat poll as the poller runs it: one read of the session's messages, its outcome
 * kept in IndexedDB for the banner (written only when it changes), and the reply watch's
 * say on when to look again.
 */
import { getMeta, type PurlDatabase, type SyncStatus } from '../src/shared/db';
import type { ChatSession, SyncChatPart } from '../src/shared/api';
import type { PurlEvent } from '../src/shared/messages';
import type { Chat } from './chat';
import type { PollResult } from './poller';
import type { ReplyWatch } from './reply-watch';
import { setMeta } from './store';
import { describeChatPollFailure } from './sync';

export interface ChatPollOptions {
  chat: Pick<Chat, 'poll' | 'deliver'>;
  replyWatch: ReplyWatch;
  getDb: () => Promise<PurlDatabase>;
  broadcast: (event: PurlEvent) => void;
  now: () => number;
}

export interface ChatPoll {
  /** One chat poll, as the poller runs it. */
  (): Promise<PollResult>;
  /** The same bookkeeping for a chat poll's answer that came inside a sync (the sync route's chat part). */
  deliver(session: ChatSession, part: SyncChatPart): Promise<PollResult>;
  /** The same bookkeeping for a chat poll that failed inside a sync: its failure is said, and it rejects with it. */
  failed(error: unknown): Promise<never>;
  /** Replies arrive another way (push): a failure the last poll said is over, since replies come again. */
  replyArrived(): Promise<void>;
}

export function createChatPoll(options: ChatPollOptions): ChatPoll {
  const { getDb, now } = options;
  /** The error sentence as last written to IndexedDB; read from there once per worker start. */
  let lastError: { sentence: string | undefined } | undefined;

  /** Writes the poll's outcome only when it changes (a failure starts or ends, or its reason changes). */
  async function record(error: unknown): Promise<void> {
    const db = await getDb();
    const sentence = error === undefined ? undefined : describeChatPollFailure(error);
    lastError ??= { sentence: (await getMeta(db, 'chatPoll'))?.error };
    if (lastError.sentence === sentence) return;
    lastError = { sentence };
    const status: SyncStatus = { attemptedAt: now() };
    if (sentence === undefined) status.succeededAt = status.attemptedAt;
    else status.error = sentence;
    await setMeta(db, 'chatPoll', status);
    options.broadcast({ type: 'data-changed', stores: ['meta'] });
  }

  async function run(read: () => Promise<'changed' | 'unchanged'>): Promise<PollResult> {
    let outcome: 'changed' | 'unchanged';
    try {
      outcome = await read();
    } catch (error) {
      await record(error).catch(() => undefined);
      throw error;
    }
    await record(undefined);
    const dueBy = await options.replyWatch.afterPoll(outcome);
    return dueBy === undefined ? outcome : { outcome, dueBy };
  }

  return Object.assign(() => run(() => options.chat.poll()), {
    deliver: (session: ChatSession, part: SyncChatPart) => run(() => options.chat.deliver(session, part)),
    async failed(error: unknown): Promise<never> {
      await run(() => Promise.reject(error));
      throw error;
    },
    replyArrived: () => record(undefined),
  });
}
