/**
 * What push changes for the rest of the worker (docs/push.md). While the gateway's stream
 * brings the replies as they are made, the chat poll is a safety net for anything the
 * stream missed (a minute, not stretched further), a sent message brings no poll forward,
 * and the moment push comes up everything waiting for the server goes; when it goes down
 * the chat poll's own cadence returns at once. The stream's events themselves (a message,
 * a reset, the memories moving on) are acted on here: sw/push.ts only keeps the stream's
 * state.
 */
import { parseSessionMessages } from '../src/shared/api';
import type { PollKind, PushView } from '../src/shared/network';
import type { Chat } from './chat';
import type { ChatPoll } from './chat-poll';
import type { Gate } from './gate';
import type { Poller } from './poller';
import type { PushListener } from './push';
import type { ReplyWatch } from './reply-watch';
import type { ScheduleOptions } from './schedule';
import type { Sync } from './sync';

/** The chat poll while push brings the replies: a safety net for anything the stream missed. */
export const PUSH_SAFETY_NET_MS = 60_000;

/** The chat poll's base interval: its configured one, or the safety net's minute (if longer) while push is up. */
export function chatPollMs(pushUp: boolean, configuredMs: number): number {
  return pushUp ? Math.max(PUSH_SAFETY_NET_MS, configuredMs) : configuredMs;
}

/**
 * A poll's schedule options with push counted. While push brings the replies, the chat
 * poll is a plain safety net: not stretched further when nothing changes. Once it fails,
 * it is retried as the chat poll without push would be (its backoff starts from the
 * configured interval, `configuredChatMs`), so the banner's failure ends as soon as the
 * server answers again. The memories poll is push's business only through its events.
 */
export function withPush(kind: PollKind, options: ScheduleOptions, pushUp: boolean, configuredChatMs: number): ScheduleOptions {
  return kind === 'chat' && pushUp ? { ...options, unchangedStep: 1, maxStretch: 1, errorBaseMs: configuredChatMs } : options;
}

export interface PushPolicyOptions {
  now: () => number;
  /** True while the stream brings the replies (sw/push.ts `isUp`). */
  isUp: () => boolean;
  /** Each poll's base interval now (push already counted), ms. */
  baseMs: (kind: PollKind) => number;
  chat: Pick<Chat, 'session' | 'hasSession' | 'receive'>;
  pollChat: Pick<ChatPoll, 'replyArrived'>;
  replyWatch: Pick<ReplyWatch, 'sent'>;
  poller: Pick<Poller<undefined>, 'expedite'>;
  sync: Pick<Sync, 'isBehind'>;
  /** Forgets when the last sync of `agentId` was read, so the next poll asks however recent it was. */
  expireSync: (agentId: string) => Promise<void>;
  gate: Pick<Gate, 'failingSince' | 'serverBack'>;
  /** Brings what backs off after an outage forward (sw/catch-up.ts). */
  catchUp: () => Promise<void>;
  /** The stream's figures, for the monitor: every counted event and every change. */
  onView: (view: PushView) => void;
  /** The poll intervals in force changed (push came up or went down). */
  onCadence: () => void;
  /** Asks for a round of what is due (not awaited: the caller may be inside one). */
  requestRound: () => void;
  /** Keeps the worker alive for work started here and not awaited. */
  track: (promise: Promise<unknown>) => void;
}

export interface PushPolicy {
  /** What the stream's events do here: registered with sw/push.ts `onEvents`. */
  listener: PushListener;
  /** A message reached the server. Without push the chat is polled for the reply soon (sw/reply-watch.ts); with push up the reply comes as it is made. */
  messageSent(): Promise<void>;
}

export function createPushPolicy(options: PushPolicyOptions): PushPolicy {
  const { now, chat, poller, baseMs, track } = options;

  /** The gateway reached ElizaOS over its socket: the server is there, so what waits for it goes now. */
  async function pushUp(): Promise<void> {
    if (options.gate.failingSince() !== undefined) options.gate.serverBack(now());
    await options.catchUp();
  }

  /** No more replies by push: the chat poll's own cadence returns at once, not after the safety net's minute. */
  async function pushDown(): Promise<void> {
    if (await chat.hasSession()) await poller.expedite('chat', now() + baseMs('chat'), baseMs('chat'));
    options.requestRound();
  }

  const listener: PushListener = {
    async message(sessionId, message) {
      // Pushed messages of any other session are not this browser's business any more.
      const session = await chat.session();
      if (session?.sessionId !== sessionId) return;
      // Checked with its session as a polled answer is: one that does not parse changes nothing.
      await chat.receive(parseSessionMessages({ messages: [message] }, session));
      // The banner says replies are not arriving while the chat poll fails; a pushed one proves they are again.
      await options.pollChat.replyArrived();
    },
    async reset(sessionIds) {
      // Events were missed (the gateway could not replay them): the chat must be read once.
      const session = await chat.session();
      if (!session || !sessionIds.includes(session.sessionId)) return;
      await poller.expedite('chat', now(), baseMs('chat'));
      options.requestRound();
    },
    // The memories poll made due now brings the change in one request (a delta from the stored cursor).
    async memoriesChanged(agentId, cursor) {
      if (!(await options.sync.isBehind(agentId, cursor))) return;
      // What the last sync brought is out of date, however recent: the poll must ask.
      await options.expireSync(agentId);
      await poller.expedite('memories', now(), baseMs('memories'));
      options.requestRound();
    },
    onChange(view, previous) {
      options.onView(view);
      if (view.state === previous.state) return;
      options.onCadence();
      if (view.state === 'up') track(pushUp());
      else if (previous.state === 'up') track(pushDown());
    },
  };

  return {
    listener,
    async messageSent() {
      if (!options.isUp()) await poller.expedite('chat', options.replyWatch.sent(), baseMs('chat'));
    },
  };
}
