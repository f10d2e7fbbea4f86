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
 *
 * This file is the wiring edge: socket.io-client and the timers (on an injected clock). The
 * decisions are pure and tested on their own: the connection's state machine
 * (upstream-connection.ts), the channels kept (upstream-channels.ts), what is said over the
 * socket (upstream-protocol.ts), and the sends awaiting their acknowledgement (pending-sends.ts).
 */
import { randomUUID } from 'node:crypto';
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import type { Clock } from '../../../src/shared/clock';
import { unrefClock } from '../clock';
import { PendingSends, type SendOutcome } from './pending-sends';
import { type Channels, confirmed, forgotten, isJoined, joinedCount, listenedTo, noChannels, releasedFrom, unjoined } from './upstream-channels';
import {
  type ConnectionEffect,
  type ConnectionEvent,
  type ConnectionTimings,
  initialConnection,
  stepConnection,
  type UpstreamState,
} from './upstream-connection';
import {
  ackOf,
  channelOf,
  echoOf,
  errorOf,
  isAccessDenied,
  joinRequest,
  messageOfBroadcast,
  type PushedMessage,
  type SocketMessage,
  sendRequest,
} from './upstream-protocol';

export type { SendOutcome } from './pending-sends';
export type { UpstreamState } from './upstream-connection';
export { MESSAGE_SERVER_ID, messageOfBroadcast, type PushedMessage, SOCKET_SOURCE, type SocketMessage } from './upstream-protocol';

/** What the gateway needs of a Socket.IO client socket (socket.io-client's `Socket`; a fake in tests). */
export type SocketLike = Pick<Socket, 'on' | 'emit' | 'connect' | 'disconnect' | 'active' | 'connected'>;

/** When ElizaOS could not say whether it isolates, how long before it is asked again by default, ms. */
export const ISOLATION_RETRY_MS = 5_000;

export interface UpstreamSocketOptions {
  upstream: URL;
  /** ELIZA_SERVER_AUTH_TOKEN, sent as the socket's `apiKey`. */
  apiKey?: string;
  /** How long a channel stays joined after its last listener left, ms (default 10 min, the replay window). */
  lingerMs?: number;
  /** After the server refused the socket itself (a wrong key), the wait before trying again, ms. */
  retryMs?: number;
  /** The time now, epoch ms (default: the clock's). */
  now?: () => number;
  /** Time and timers (default: the system's, its timers unref'd so none keeps the process alive). */
  clock?: Clock;
  /**
   * Whether ElizaOS runs with ENABLE_DATA_ISOLATION, asked on each connection before the
   * state is `up`; undefined when it could not be told (asked again after
   * `isolationRetryMs`, the state staying `down` meanwhile).
   */
  isIsolated?: () => Promise<boolean | undefined>;
  /** When ElizaOS could not say whether it isolates, how long before it is asked again, ms (default ISOLATION_RETRY_MS). */
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

type Listeners<T extends unknown[]> = Set<(...args: T) => void>;

function on<T extends unknown[]>(set: Listeners<T>, listener: (...args: T) => void): () => void {
  set.add(listener);
  return () => set.delete(listener);
}

function tell<T extends unknown[]>(set: Listeners<T>, ...args: T): void {
  for (const listener of set) listener(...args);
}

/** What the socket hears from ElizaOS, each event checked at the boundary (upstream-protocol.ts). */
interface SocketEvents {
  connected(): void;
  disconnected(reason: string): void;
  connectError(): void;
  joined(channelId: string): void;
  /** ElizaOS's own deletions (its admin API), which no sessions GET would list any more. */
  removed(channelId: string): void;
  error(error: string): void;
  acknowledged(messageId: string, rowId: string): void;
  broadcast(data: unknown): void;
}

/** Hands each event ElizaOS sends on `socket` to `events`; an event naming no valid channel or row is dropped here. */
function listenTo(socket: SocketLike, events: SocketEvents): void {
  socket.on('connect', () => events.connected());
  socket.on('disconnect', (reason) => events.disconnected(reason));
  socket.on('connect_error', () => events.connectError());
  socket.on('channel_joined', (data: unknown) => {
    const channelId = channelOf(data);
    if (channelId) events.joined(channelId);
  });
  for (const event of ['messageDeleted', 'channelCleared', 'channelDeleted']) {
    socket.on(event, (data: unknown) => {
      const channelId = channelOf(data);
      if (channelId) events.removed(channelId);
    });
  }
  socket.on('messageError', (data: unknown) => events.error(errorOf(data)));
  socket.on('messageAck', (data: unknown) => {
    const ack = ackOf(data);
    if (ack) events.acknowledged(ack.messageId, ack.rowId);
  });
  socket.on('messageBroadcast', (data: unknown) => events.broadcast(data));
}

/** Runs the connection's state machine on `clock`: keeps the connection, sets its timers, and hands every other effect to `run`, in order. */
function driveConnection(clock: Clock, timings: ConnectionTimings, run: (effect: Exclude<ConnectionEffect, { kind: 'later' }>) => void) {
  let connection = initialConnection(clock.now());
  const timers = new Set<() => void>();
  const dispatch = (event: ConnectionEvent): void => {
    const step = stepConnection(connection, event, clock.now(), timings);
    connection = step.connection;
    for (const effect of step.effects) {
      if (effect.kind !== 'later') {
        run(effect);
        continue;
      }
      const cancel = clock.setTimer(() => {
        timers.delete(cancel);
        dispatch(effect.event);
      }, effect.afterMs);
      timers.add(cancel);
    }
  };
  return {
    dispatch,
    current: () => connection,
    cancelTimers() {
      for (const cancel of timers) cancel();
      timers.clear();
    },
  };
}

/** The kept channels (upstream-channels.ts), each forgotten `lingerMs` on `clock` after its last listener left. */
function keepChannels(clock: Clock, lingerMs: number) {
  let channels: Channels = noChannels;
  const lingering = new Map<string, () => void>();
  const stopLinger = (channelId: string) => {
    lingering.get(channelId)?.();
    lingering.delete(channelId);
  };
  return {
    /** One more listener of `channelId`; true when it needs a join (it was not kept). */
    listen(channelId: string): boolean {
      const listened = listenedTo(channels, channelId);
      channels = listened.channels;
      stopLinger(channelId);
      return listened.isNew;
    },
    release(channelId: string): void {
      const released = releasedFrom(channels, channelId);
      channels = released.channels;
      if (!released.isIdle) return;
      stopLinger(channelId);
      const forget = () => {
        lingering.delete(channelId);
        channels = forgotten(channels, channelId);
      };
      lingering.set(channelId, clock.setTimer(forget, lingerMs));
    },
    /** ElizaOS confirmed the join; true the first time on this connection. */
    confirm(channelId: string): boolean {
      const join = confirmed(channels, channelId);
      channels = join.channels;
      return join.isNewJoin;
    },
    unjoinAll(): void {
      channels = unjoined(channels);
    },
    isJoined: (channelId: string) => isJoined(channels, channelId),
    joined: () => joinedCount(channels),
    ids: () => [...channels.keys()],
    clear(): void {
      for (const channelId of [...lingering.keys()]) stopLinger(channelId);
      channels = noChannels;
    },
  };
}

/** The gateway's one upstream socket (see the top of this file); it connects on the first `subscribe` or `wake`. */
export function createUpstreamSocket(options: UpstreamSocketOptions): UpstreamSocket {
  const base = options.clock ?? unrefClock;
  const clock: Clock = { now: options.now ?? base.now, setTimer: base.setTimer };
  // The gateway's own entity: not any user's, so ElizaOS never mistakes it for one.
  const entityId = randomUUID();
  const connect = options.connect ?? ((url, socketOptions) => io(url, socketOptions));
  const listeners = {
    message: new Set() as Listeners<[string, PushedMessage]>,
    state: new Set() as Listeners<[UpstreamState]>,
    joined: new Set() as Listeners<[string]>,
    removed: new Set() as Listeners<[string]>,
  };
  const sends = new PendingSends(clock);
  const counts = { broadcasts: 0, dropped: 0 };
  const channels = keepChannels(clock, options.lingerMs ?? 10 * 60_000);
  let socket: SocketLike | undefined;
  const timings = { retryMs: options.retryMs ?? 30_000, isolationRetryMs: options.isolationRetryMs ?? ISOLATION_RETRY_MS };
  const connection = driveConnection(clock, timings, (effect) => {
    switch (effect.kind) {
      case 'announce':
        return tell(listeners.state, effect.state);
      case 'forget-joins':
        return channels.unjoinAll();
      case 'ask-isolation':
        // Never rejects: a failed question is "cannot tell", asked again later.
        void (options.isIsolated?.() ?? Promise.resolve(false))
          .catch(() => undefined)
          .then((isolated) => connection.dispatch({ kind: 'isolation', connection: effect.connection, isolated, isConnected: socket?.connected === true }));
        return;
      case 'join-all':
        for (const channelId of channels.ids()) join(channelId);
        return;
      case 'settle-sends':
        return sends.settleAll({ kind: 'down' });
      case 'reconnect':
        socket?.connect();
        return;
    }
  });
  function join(channelId: string): void {
    // Refused joins are not asked again until a reconnect: ElizaOS would refuse each one.
    if (socket && connection.current().state === 'up') socket.emit('1', joinRequest(channelId, entityId));
  }
  function broadcast(data: unknown): void {
    const checked = messageOfBroadcast(data);
    if (!checked) {
      counts.dropped++;
      return;
    }
    // The echo of the gateway's own send names the send (its top-level clientMessageId is the messageId sent).
    const echo = echoOf(data);
    const clientMessageId = echo === undefined ? undefined : sends.echoed(echo, checked.message.createdAt);
    if (clientMessageId !== undefined) checked.message.metadata.clientMessageId = clientMessageId;
    // A channel no one listens to (ElizaOS has no leave): not ours to hand on.
    if (!channels.isJoined(checked.channelId)) return;
    counts.broadcasts++;
    tell(listeners.message, checked.channelId, checked.message);
  }
  function open(): SocketLike {
    const made = connect(options.upstream.origin, {
      auth: { entityId, ...(options.apiKey ? { apiKey: options.apiKey } : {}) },
      // Straight to the WebSocket: no long-polling requests counted by ElizaOS's HTTP limiter.
      transports: ['websocket'],
      // socket.io's own backoff: 1 s doubling to 5 s, with jitter, for ever.
      reconnection: true,
    });
    listenTo(made, {
      connected: () => connection.dispatch({ kind: 'connected' }),
      disconnected: (reason) => connection.dispatch({ kind: 'disconnected', reason }),
      connectError: () => connection.dispatch({ kind: 'connect-error', isActive: made.active }),
      joined(channelId) {
        if (channels.confirm(channelId)) tell(listeners.joined, channelId);
      },
      removed(channelId) {
        if (channels.isJoined(channelId)) tell(listeners.removed, channelId);
      },
      // ElizaOS names no message in its errors: every send under way may be the one refused.
      error: (error) => (isAccessDenied(error) ? connection.dispatch({ kind: 'access-denied' }) : sends.settleAll({ kind: 'failed', error })),
      acknowledged: (messageId, rowId) => sends.acknowledged(messageId, rowId),
      broadcast,
    });
    return made;
  }

  return {
    subscribe(rawChannelId) {
      if (connection.current().isClosed) return () => {};
      const channelId = rawChannelId.toLowerCase();
      if (channels.listen(channelId)) join(channelId);
      socket ??= open();
      let isReleased = false;
      return () => {
        if (isReleased) return;
        isReleased = true;
        channels.release(channelId);
      };
    },
    send(message, timeoutMs) {
      if (!socket || connection.current().state !== 'up') return Promise.resolve<SendOutcome>({ kind: 'down' });
      const messageId = randomUUID();
      const outcome = sends.start(messageId, message.clientMessageId, timeoutMs);
      socket.emit('2', sendRequest(message, messageId));
      return outcome;
    },
    wake() {
      if (!connection.current().isClosed) socket ??= open();
    },
    onMessage: (listener) => on(listeners.message, listener),
    onState: (listener) => on(listeners.state, listener),
    onJoined: (listener) => on(listeners.joined, listener),
    onRemoved: (listener) => on(listeners.removed, listener),
    isJoined: (channelId) => channels.isJoined(channelId.toLowerCase()),
    state: () => connection.current().state,
    stats: () => {
      const { state, since } = connection.current();
      return { state, since, channels: channels.joined(), ...counts };
    },
    close() {
      connection.dispatch({ kind: 'close' });
      connection.cancelTimers();
      channels.clear();
      socket?.disconnect();
      socket = undefined;
    },
  };
}
