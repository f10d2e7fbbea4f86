/**
 * The reply watch: the agent answers about a second after a message reaches it, so the
 * chat is polled a second after each sent message, and while the reply is still missing
 * an empty poll is repeated a second later, a few times, instead of waiting out an
 * interval stretched while nothing changed. It only says when the next chat poll should
 * come at the latest; the poller keeps the deadline.
 */

export interface ReplyWatchOptions {
  now: () => number;
  /** True while the newest message of the session is the user's, sent in the last `windowMs`. */
  awaitingReply: (windowMs: number) => Promise<boolean>;
  /** From a sent message to the first chat poll, ms (default 1 s). */
  firstPollMs?: number;
  /** Between rechecks while a reply is awaited, ms (default 1 s). */
  recheckMs?: number;
  /** Rechecks at most per sent message (default 4). */
  rechecks?: number;
  /** How long after the user's message a reply counts as awaited, ms (default 20 s). */
  windowMs?: number;
}

export interface ReplyWatch {
  /** A message reached the server: the chat should be polled by the epoch ms returned. */
  sent(): number;
  /** A chat poll found `outcome`: the epoch ms by which to poll again, or undefined for the usual interval. */
  afterPoll(outcome: 'changed' | 'unchanged'): Promise<number | undefined>;
}

export function createReplyWatch(options: ReplyWatchOptions): ReplyWatch {
  const { now } = options;
  const recheckMs = options.recheckMs ?? 1_000;
  const maxRechecks = options.rechecks ?? 4;
  const windowMs = options.windowMs ?? 20_000;
  /** Rechecks made since the last sent message (all of them used: none until the next message). */
  let rechecks = maxRechecks;

  return {
    sent() {
      rechecks = 0;
      return now() + (options.firstPollMs ?? 1_000);
    },
    async afterPoll(outcome) {
      // Something new arrived (the reply, most likely): the usual interval, reset to its base, follows.
      if (outcome === 'changed') rechecks = maxRechecks;
      if (rechecks >= maxRechecks || !(await options.awaitingReply(windowMs))) return undefined;
      rechecks += 1;
      return now() + recheckMs;
    },
  };
}
