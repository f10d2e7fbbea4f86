/**
 * The upstream socket's connection as a pure state machine: no I/O, no timers, time passed
 * in as epoch ms. Each event the socket hears (or a timer it was told to set) goes in, and
 * the new connection comes out with what the socket must do now, as plain effects that
 * server/gateway/upstream/upstream-socket.ts carries out.
 *
 *   down ──(connected; isolation asked: off)──▶ up ──(join refused)──▶ refused
 *    ▲  └──(connected; isolation asked: on)────────────────────────────▶ │
 *    └──────────────────────(disconnected, connect error)◀────────────────┘
 *
 * A new connection is `down` until ElizaOS says whether it isolates (ENABLE_DATA_ISOLATION):
 * with it on, nothing may go over the socket (see upstream-socket.ts), so the state is
 * `refused` until the next reconnect. An answer counts only for the connection it was asked
 * on; "cannot tell" asks again after `isolationRetryMs`, the state staying `down`.
 * socket.io reconnects by itself, except after the server ended the socket on purpose
 * (`io server disconnect`: again after 1 s) or refused it in its middleware (a wrong key,
 * the socket not `active`: again after `retryMs`); one such reconnect waits at a time.
 */

export type UpstreamState = 'up' | 'down' | 'refused';

export interface Connection {
  readonly state: UpstreamState;
  /** Epoch ms of the last change of state. */
  readonly since: number;
  /** Connections made so far: an answer about isolation counts only for the one it was asked on. */
  readonly connections: number;
  /** A reconnect of the gateway's own is waiting (socket.io would not make it). */
  readonly isRetrying: boolean;
  readonly isClosed: boolean;
}

export interface ConnectionTimings {
  /** After the server refused the socket itself, the wait before trying again, ms. */
  retryMs: number;
  /** When ElizaOS could not say whether it isolates, how long before it is asked again, ms. */
  isolationRetryMs: number;
}

/** What the socket heard, or a timer it set that came due. */
export type ConnectionEvent =
  | { kind: 'connected' }
  | { kind: 'isolation'; connection: number; isolated: boolean | undefined; isConnected: boolean }
  | { kind: 'ask-due'; connection: number }
  | { kind: 'disconnected'; reason: string }
  | { kind: 'connect-error'; isActive: boolean }
  | { kind: 'access-denied' }
  | { kind: 'retry-due' }
  | { kind: 'close' };

/** What the socket must do, in order. */
export type ConnectionEffect =
  /** Tell the state's listeners. */
  | { kind: 'announce'; state: UpstreamState }
  /** Every channel's join is lost (a connection began or ended). */
  | { kind: 'forget-joins' }
  /** Ask ElizaOS whether it isolates, then deliver the answer as an `isolation` event for `connection`. */
  | { kind: 'ask-isolation'; connection: number }
  /** Join every kept channel. */
  | { kind: 'join-all' }
  /** Settle every send under way as `down`: its acknowledgement cannot come any more. */
  | { kind: 'settle-sends' }
  /** Connect the socket again. */
  | { kind: 'reconnect' }
  /** Deliver `event` after `afterMs` (a timer; every one is cancelled on close). */
  | { kind: 'later'; afterMs: number; event: ConnectionEvent };

/** The connection's step: the new one and what to do. */
export interface ConnectionStep {
  connection: Connection;
  effects: ConnectionEffect[];
}

/** After the server ended the socket on purpose, the wait before connecting again, ms. */
export const SERVER_DISCONNECT_RETRY_MS = 1_000;

/** No connection made yet, down since `now`. */
export function initialConnection(now: number): Connection {
  return { state: 'down', since: now, connections: 0, isRetrying: false, isClosed: false };
}

function moved(connection: Connection, state: UpstreamState, now: number): ConnectionStep {
  if (state === connection.state) return { connection, effects: [] };
  return { connection: { ...connection, state, since: now }, effects: [{ kind: 'announce', state }] };
}

function retryLater(step: ConnectionStep, afterMs: number): ConnectionStep {
  const { connection } = step;
  if (connection.isClosed || connection.isRetrying) return step;
  return { connection: { ...connection, isRetrying: true }, effects: [...step.effects, { kind: 'later', afterMs, event: { kind: 'retry-due' } }] };
}

function answered(connection: Connection, event: Extract<ConnectionEvent, { kind: 'isolation' }>, now: number, timings: ConnectionTimings): ConnectionStep {
  // Dropped, reconnected or closed while asking: that connection asks again.
  if (connection.isClosed || event.connection !== connection.connections || !event.isConnected) return { connection, effects: [] };
  if (event.isolated === undefined) {
    // ElizaOS could not say (busy, a 5xx, the budget kept the question back): nothing goes
    // over the socket until it has (the chat polls meanwhile); asked again shortly.
    const later: ConnectionEffect = { kind: 'later', afterMs: timings.isolationRetryMs, event: { kind: 'ask-due', connection: event.connection } };
    return { connection, effects: [later] };
  }
  if (event.isolated) return moved(connection, 'refused', now);
  const step = moved(connection, 'up', now);
  return { connection: step.connection, effects: [...step.effects, { kind: 'join-all' }] };
}

/** The connection after `event` at `now`, and what the socket must do. */
export function stepConnection(connection: Connection, event: ConnectionEvent, now: number, timings: ConnectionTimings): ConnectionStep {
  switch (event.kind) {
    case 'connected': {
      const connections = connection.connections + 1;
      return { connection: { ...connection, connections }, effects: [{ kind: 'forget-joins' }, { kind: 'ask-isolation', connection: connections }] };
    }
    case 'isolation':
      return answered(connection, event, now, timings);
    case 'ask-due': {
      const isCurrent = !connection.isClosed && event.connection === connection.connections;
      return { connection, effects: isCurrent ? [{ kind: 'ask-isolation', connection: event.connection }] : [] };
    }
    case 'disconnected': {
      const step = moved(connection, 'down', now);
      // An acknowledgement cannot come on a socket that is gone: the sender checks before sending again.
      const gone: ConnectionStep = { connection: step.connection, effects: [{ kind: 'forget-joins' }, ...step.effects, { kind: 'settle-sends' }] };
      // The server ended this socket on purpose: socket.io does not reconnect by itself then.
      return event.reason === 'io server disconnect' ? retryLater(gone, SERVER_DISCONNECT_RETRY_MS) : gone;
    }
    case 'connect-error': {
      // A refusal by the server's middleware (a wrong key): socket.io gives up; try again now and then.
      const step = moved(connection, 'down', now);
      return event.isActive ? step : retryLater(step, timings.retryMs);
    }
    case 'access-denied':
      return moved(connection, 'refused', now);
    case 'retry-due': {
      const next = { ...connection, isRetrying: false };
      return { connection: next, effects: connection.isClosed ? [] : [{ kind: 'reconnect' }] };
    }
    case 'close':
      return { connection: { ...connection, isClosed: true, isRetrying: false }, effects: [{ kind: 'settle-sends' }] };
    default: {
      const unknown: never = event;
      throw new TypeError(`Unknown connection event: ${JSON.stringify(unknown)}`);
    }
  }
}
