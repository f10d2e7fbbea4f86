/**
 * The chat poll, through the sync route when the gateway's edge answers its shared part
 * (`syncChat`): the same one request then brings what changed in the memories too, at no
 * cost upstream, so while a chat is open the memories need no poll of their own (one
 * request a poll). Without the edge (the embedded server's default) each sync reads the
 * agent list and the memories upstream: three requests of the user's budget a chat poll
 * instead of one, which stretched the chat poll to 28 s in the own-agent e2e; the chat
 * poll then reads its own route. The chat is read exactly as often as its own poll says,
 * never riding along on the memories' poll: that poll is not stretched by the user's
 * share and the chat's is (the edge bench measured 1.22× the upstream requests at 50
 * users that way).
 */
import type { Chat } from './chat';
import type { ChatPoll } from './chat-poll';
import type { Poller, PollResult } from './poller';
import type { Refreshed, Sync } from './sync';

export interface SyncedChatPollOptions {
  /** Whether the gateway's sync route carries the chat (its edge answers the shared part); read at each poll. */
  carriesChat: () => boolean;
  chat: Pick<Chat, 'session'>;
  sync: Pick<Sync, 'refreshWithChat'>;
  /** The chat poll on its own route, and its bookkeeping for an answer that came inside a sync. */
  pollChat: ChatPoll;
}

/** The chat poll as the poller runs it: `polls` hears that the memories were polled along with it. */
export type SyncedChatPoll = (polls: Pick<Poller<undefined>, 'notePolled'>) => Promise<PollResult>;

export function createSyncedChatPoll(options: SyncedChatPollOptions): SyncedChatPoll {
  const { chat, sync, pollChat } = options;
  return async (polls) => {
    if (!options.carriesChat()) return pollChat();
    const session = await chat.session();
    let synced: Refreshed | undefined;
    try {
      synced = session && (await sync.refreshWithChat(session, 'memories'));
    } catch (error) {
      await polls.notePolled('memories', 'error');
      return pollChat.failed(error);
    }
    // No session, or a sync already under way: the chat route answers on its own.
    if (!session || !synced) return pollChat();
    await polls.notePolled('memories', synced.outcome);
    // Left out by the gateway (its budget keeps such reads back): the chat route says why.
    return synced.chat ? pollChat.deliver(session, synced.chat) : pollChat();
  };
}
