/**
 * The gateway's one Socket.IO connection to ElizaOS (docs/push.md, "Upstream"), made when
 * the first browser subscribes. It joins a session's channel while anyone listens to it
 * (and a while after, so a browser that reconnects finds it still heard), joins them all
 * again after a reconnect, and hands on each `messageBroadcast` of a joined channel in the
 * shape the sessions GET lists. What ElizaOS sends is checked here, at the boundary:
 * anything malformed is dropped and counted.
 *
 * ElizaOS 1.7.2 has no "leave" message: a channel no one listens to any more is only
 * ignored here (its broadcasts still arrive until the next reconnect).
 *
 * A join ElizaOS refuses (ENABLE_DATA_ISOLATION: only a channel's participants may join,
 * and a session's channel has only the agent) comes back as `messageError` with
 * "Access denied: …" and no channel id (SocketIORouter.handleChannelJoining in
 * @elizaos/server). With isolation on every join is refused, so one such answer makes the
 * state `refused` until the next reconnect; browsers keep polling meanwhile.
 *
 * Isolation is also asked before the state is `up` (`isIsolated`, ElizaOS's
 * `GET /api/system/config` `requiresAuth`, once a connection): with it on, ElizaOS's
 * message server is not the default one, and a message sent over the socket with the
 * default id is stored and acknowledged but never answered (measured on 1.7.2), so no
 * message may go over the socket before a join has been refused. The state is then
 * `refused` from the start, and messages take the REST path.
 */
import { randomUUID } from 'node:crypto';
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { isRecord, isUuid } from '../../../src/shared/ids';

export type UpstreamState = 'up' | 'down' | 'refused';

/** A message as `GET /api/messaging/sessions/:id/messages` lists it. */
export interface PushedMessage {
  id: string;
  content: string;
  authorId: string;
  isAgent: boolean;
  createdAt: number;
  metadata: { thought?: string; actions?: string[]; clientMessageId?: string };
}

/** A user's message, as the gateway sends it over the socket (docs/push.md, "Messages over the socket"). */
export interface SocketMessage {
  channelId: string;
  /** The session's userId, from the gateway's own record: never the browser's word. */
  senderId: string;
  senderName: string;
  text: string;
  /** The browser's clientMessageId, kept in the row's metadata. */
  clientMessageId?: string;
}

/**
 * How a send ended: `stored` (ElizaOS acknowledged it; `id` and `createdAt` are the stored
 * row's), `timeout` (no acknowledgement in time), `down` (the socket was not up, or dropped
 * before the acknowledgement), `failed` (ElizaOS answered `messageError` meanwhile). Only
 * `stored` says the message is kept; after any other, it may or may not be.
 */
export type SendOutcome = { kind: 'stored'; id: string; createdAt: number } | { kind: 'timeout' } | { kind: 'down' } | { kind: 'failed'; error: string };

/** What the gateway needs of a Socket.IO client socket (socket.io-client's `Socket`; a fake in tests). */
export type SocketLike = Pick<Socket, 'on' | 'emit' | 'connect' | 'disconnect' | 'active' | 'connected'>;

export interface UpstreamSocketOptions {
  upstream: URL;
  /** ELIZA_SERVER_AUTH_TOKEN, sent as the socket's `apiKey`. */
  apiKey?: string;
  /** How long a channel stays joined after its last listener left, ms (default 10 min, the replay window). */
  lingerMs?: number;
  /** After the server refused the socket itself (a wrong key), the wait before trying again, ms. */
  retryMs?: number;
  now?: () => number;
  /**
   * Whether ElizaOS runs with ENABLE_DATA_ISOLATION, asked on each connection before the
   * state is `up`; undefined when it could not be told (asked again after
   * `isolationRetryMs`, the state staying `down` meanwhile).
   */
  isIsolated?: () => Promise<boolean | undefined>;
  /** When ElizaOS could not say whether it isolates, how long before it is asked again, ms (default 5 s). */
  isolationRetryMs?: number;
  /** Makes the socket (default: socket.io-client's `io`, websocket only). */
  connect?: (url: string, options: Partial<ManagerOptions & SocketOptions>) => SocketLike;
}

export interface UpstreamStats {
  state: UpstreamState;
  /** Epoch ms of the last change of state. */
  since: number;
  /** Channels joined (confirmed by ElizaOS) and listened to, or lingering. */
  channels: number;
  /** Broadcasts received for joined channels and handed on. */
  broadcasts: number;
  /** Broadcasts that failed the boundary check. */
  dropped: number;
}

export interface UpstreamSocket {
  /** Listens to a channel (joins it when needed); returns the release. */
  subscribe(channelId: string): () => void;
  /** Calls `listener` for each checked message of a joined channel; returns the disposer. */
  onMessage(listener: (channelId: string, message: PushedMessage) => void): () => void;
  /** Calls `listener` on each change of state; returns the disposer. */
  onState(listener: (state: UpstreamState) => void): () => void;
  /** Calls `listener` when a channel is joined (again): what it said before then was not heard. */
  onJoined(listener: (channelId: string) => void): () => void;
  /** Calls `listener` when ElizaOS says a joined channel lost messages (`messageDeleted`, `channelCleared`, `channelDeleted`). */
  onRemoved(listener: (channelId: string) => void): () => void;
  /**
   * Sends a user's message (`emit("2")`) and settles once ElizaOS acknowledges it
   * (`messageAck`), or with why not; never rejects. ElizaOS does not dedupe: the caller
   * must not send again after anything but `stored` without first checking.
   */
  send(message: SocketMessage, timeoutMs: number): Promise<SendOutcome>;
  /** Makes the connection now if no subscriber made it yet (a send found it not made). */
  wake(): void;
  /** True while ElizaOS has confirmed the channel's join and it is listened to or lingering. */
  isJoined(channelId: string): boolean;
  state(): UpstreamState;
  stats(): UpstreamStats;
  close(): void;
}

/** ElizaOS's default message server, the one its sessions' channels are on. */
export const MESSAGE_SERVER_ID = '00000000-0000-0000-0000-000000000000';
/**
 * The `source` of every message the gateway sends. ElizaOS 1.7 files a session's messages
 * in a GROUP room, where an agent answers without first asking its model only messages
 * whose source contains one of ALWAYS_RESPOND_SOURCES: always "client_chat" (core's
 * `shouldRespond`, a substring match), plus what the character adds. "client_chat" in the
 * name makes a stock ElizaOS answer it as surely as Purl's own; "purl" says who sent it.
 */
export const SOCKET_SOURCE = 'purl_client_chat';
const ACCESS_DENIED = /^Access denied/;

/**
 * A `messageBroadcast` as the sessions GET lists it, with its channel; undefined when it
 * fails the check (`id`, `roomId`, `senderId` UUIDs, `text` a string, `createdAt` a number).
 */
export function messageOfBroadcast(data: unknown): { channelId: string; message: PushedMessage } | undefined {
  if (!isRecord(data)) return undefined;
  const { id, roomId, senderId, text, createdAt, source, thought, actions } = data;
  if (!isUuid(id) || !isUuid(roomId) || !isUuid(senderId) || typeof text !== 'string') return undefined;
  if (typeof createdAt !== 'number' || !Number.isFinite(createdAt)) return undefined;
  const metadata: PushedMessage['metadata'] = {};
  if (typeof thought === 'string') metadata.thought = thought;
  if (Array.isArray(actions)) metadata.actions = actions.filter((action): action is string => typeof action === 'string');
  return {
    channelId: roomId.toLowerCase(),
    message: { id, content: text, authorId: senderId, isAgent: source === 'agent_response', createdAt, metadata },
  };
}

interface PendingSend {
  clientMessageId?: string;
  /** The echo ElizaOS sends its sender before the acknowledgement: the row's time. */
  createdAt?: number;
  settle(outcome: SendOutcome): void;
}

interface Channel {
  listeners: number;
  joined: boolean;
  /** Set when the last listener left: the channel is forgotten after the linger. */
  idleTimer?: NodeJS.Timeout;
}

type Listeners<T extends unknown[]> = Set<(...args: T) => void>;

function on<T extends unknown[]>(set: Listeners<T>, listener: (...args: T) => void): () => void {
  set.add(listener);
  return () => set.delete(listener);
}

export function createUpstreamSocket(options: UpstreamSocketOptions): UpstreamSocket {
  const now = options.now ?? Date.now;
  const lingerMs = options.lingerMs ?? 10 * 60_000;
  const retryMs = options.retryMs ?? 30_000;
  // The gateway's own entity: not any user's, so ElizaOS never mistakes it for one.
  const entityId = randomUUID();
  const connect = options.connect ?? ((url, socketOptions) => io(url, socketOptions));
  const channels = new Map<string, Channel>();
  const messageListeners: Listeners<[string, PushedMessage]> = new Set();
  const stateListeners: Listeners<[UpstreamState]> = new Set();
  const joinedListeners: Listeners<[string]> = new Set();
  const removedListeners: Listeners<[string]> = new Set();
  let state: UpstreamState = 'down';
  let since = now();
  let broadcasts = 0;
  let dropped = 0;
  let socket: SocketLike | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let closed = false;
  /** Connections made so far: an answer about isolation counts only for the connection it was asked on. */
  let connections = 0;
  const isolationRetryMs = options.isolationRetryMs ?? 5_000;
  /** Sends awaiting their acknowledgement, by the `messageId` they were sent with (fresh for each send). */
  const pending = new Map<string, PendingSend>();

  function settleAll(outcome: SendOutcome): void {
    for (const send of [...pending.values()]) send.settle(outcome);
  }

  function setState(next: UpstreamState): void {
    if (next === state) return;
    state = next;
    since = now();
    for (const listener of stateListeners) listener(next);
  }

  function join(channelId: string): void {
    // Refused joins are not asked again until a reconnect: ElizaOS would refuse each one.
    if (!socket || state !== 'up') return;
    socket.emit('1', { channelId, entityId, messageServerId: MESSAGE_SERVER_ID });
  }

  /** Tries again later, when socket.io does not by itself (the server refused or dropped the socket on purpose). */
  function retryLater(delayMs: number): void {
    if (closed || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      if (!closed) socket?.connect();
    }, delayMs);
    retryTimer.unref();
  }

  function open(): SocketLike {
    const made = connect(options.upstream.origin, {
      auth: { entityId, ...(options.apiKey ? { apiKey: options.apiKey } : {}) },
      // Straight to the WebSocket: no long-polling requests counted by ElizaOS's HTTP limiter.
      transports: ['websocket'],
      // socket.io's own backoff: 1 s doubling to 5 s, with jitter, for ever.
      reconnection: true,
    });
    made.on('connect', () => {
      for (const channel of channels.values()) channel.joined = false;
      const connection = ++connections;
      const ask = () => {
        (options.isIsolated?.() ?? Promise.resolve(false))
          .catch(() => undefined)
          .then((isolated) => {
            // Dropped, reconnected or closed while asking: that connection asks again.
            if (closed || connection !== connections || !made.connected) return;
            if (isolated === undefined) {
              // ElizaOS could not say (busy, a 5xx, the budget kept the question back): nothing goes
              // over the socket until it has (the chat polls meanwhile); asked again shortly.
              const again = setTimeout(ask, isolationRetryMs);
              again.unref();
              return;
            }
            if (isolated) {
              setState('refused');
              return;
            }
            setState('up');
            for (const channelId of channels.keys()) join(channelId);
          });
      };
      ask();
    });
    made.on('disconnect', (reason) => {
      for (const channel of channels.values()) channel.joined = false;
      setState('down');
      // An acknowledgement cannot come on a socket that is gone: the sender checks before sending again.
      settleAll({ kind: 'down' });
      // The server ended this socket on purpose: socket.io does not reconnect by itself then.
      if (reason === 'io server disconnect') retryLater(1_000);
    });
    made.on('connect_error', () => {
      setState('down');
      // A refusal by the server's middleware (a wrong key): socket.io gives up; try again now and then.
      if (!made.active) retryLater(retryMs);
    });
    made.on('channel_joined', (data: unknown) => {
      const channelId = isRecord(data) && isUuid(data['channelId']) ? data['channelId'].toLowerCase() : undefined;
      const channel = channelId === undefined ? undefined : channels.get(channelId);
      if (!channelId || !channel || channel.joined) return;
      channel.joined = true;
      for (const listener of joinedListeners) listener(channelId);
    });
    // ElizaOS's own deletions (its admin API), which no sessions GET would list any more.
    for (const event of ['messageDeleted', 'channelCleared', 'channelDeleted']) {
      made.on(event, (data: unknown) => {
        const channelId = isRecord(data) && isUuid(data['channelId']) ? data['channelId'].toLowerCase() : undefined;
        if (channelId && channels.get(channelId)?.joined) for (const listener of removedListeners) listener(channelId);
      });
    }
    made.on('messageError', (data: unknown) => {
      const error = isRecord(data) && typeof data['error'] === 'string' ? data['error'] : '';
      if (ACCESS_DENIED.test(error)) {
        setState('refused');
        return;
      }
      // ElizaOS names no message in its errors: every send under way may be the one refused.
      settleAll({ kind: 'failed', error });
    });
    made.on('messageAck', (data: unknown) => {
      if (!isRecord(data) || typeof data['clientMessageId'] !== 'string') return;
      const send = pending.get(data['clientMessageId']);
      const rowId = data['messageId'];
      if (send && isUuid(rowId)) send.settle({ kind: 'stored', id: rowId, createdAt: send.createdAt ?? now() });
    });
    made.on('messageBroadcast', (data: unknown) => {
      const checked = messageOfBroadcast(data);
      if (!checked) {
        dropped++;
        return;
      }
      // The echo of the gateway's own send names the send (its top-level clientMessageId is the messageId sent).
      const own = isRecord(data) && typeof data['clientMessageId'] === 'string' ? pending.get(data['clientMessageId']) : undefined;
      if (own) {
        own.createdAt = checked.message.createdAt;
        if (own.clientMessageId !== undefined) checked.message.metadata.clientMessageId = own.clientMessageId;
      }
      // A channel no one listens to (ElizaOS has no leave): not ours to hand on.
      if (!channels.get(checked.channelId)?.joined) return;
      broadcasts++;
      for (const listener of messageListeners) listener(checked.channelId, checked.message);
    });
    return made;
  }

  function release(channelId: string, channel: Channel): void {
    channel.listeners--;
    if (closed || channel.listeners > 0) return;
    channel.idleTimer = setTimeout(() => {
      if (channel.listeners === 0) channels.delete(channelId);
    }, lingerMs);
    channel.idleTimer.unref();
  }

  return {
    subscribe(rawChannelId) {
      if (closed) return () => {};
      const channelId = rawChannelId.toLowerCase();
      let channel = channels.get(channelId);
      if (!channel) {
        channel = { listeners: 0, joined: false };
        channels.set(channelId, channel);
        join(channelId);
      }
      clearTimeout(channel.idleTimer);
      channel.listeners++;
      socket ??= open();
      const held = channel;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        release(channelId, held);
      };
    },
    send(message, timeoutMs) {
      if (!socket || state !== 'up') return Promise.resolve<SendOutcome>({ kind: 'down' });
      const sending = socket;
      const messageId = randomUUID();
      return new Promise<SendOutcome>((resolve) => {
        const timer = setTimeout(() => send.settle({ kind: 'timeout' }), timeoutMs);
        const send: PendingSend = {
          ...(message.clientMessageId === undefined ? {} : { clientMessageId: message.clientMessageId }),
          settle(outcome) {
            if (pending.get(messageId) !== send) return;
            pending.delete(messageId);
            clearTimeout(timer);
            resolve(outcome);
          },
        };
        pending.set(messageId, send);
        sending.emit('2', {
          channelId: message.channelId,
          messageServerId: MESSAGE_SERVER_ID,
          senderId: message.senderId,
          senderName: message.senderName,
          message: message.text,
          source: SOCKET_SOURCE,
          metadata: message.clientMessageId === undefined ? {} : { clientMessageId: message.clientMessageId },
          messageId,
          attachments: [],
        });
      });
    },
    wake() {
      if (!closed) socket ??= open();
    },
    onMessage: (listener) => on(messageListeners, listener),
    onState: (listener) => on(stateListeners, listener),
    onJoined: (listener) => on(joinedListeners, listener),
    onRemoved: (listener) => on(removedListeners, listener),
    isJoined: (channelId) => channels.get(channelId.toLowerCase())?.joined === true,
    state: () => state,
    stats: () => ({ state, since, channels: [...channels.values()].filter((channel) => channel.joined).length, broadcasts, dropped }),
    close() {
      closed = true;
      settleAll({ kind: 'down' });
      clearTimeout(retryTimer);
      for (const channel of channels.values()) clearTimeout(channel.idleTimer);
      channels.clear();
      socket?.disconnect();
      socket = undefined;
    },
  };
}
