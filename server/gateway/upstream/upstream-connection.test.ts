import { describe, expect, it } from 'vitest';
import { type Connection, type ConnectionEvent, initialConnection, SERVER_DISCONNECT_RETRY_MS, stepConnection } from './upstream-connection';

const TIMINGS = { retryMs: 30_000, isolationRetryMs: 5_000 };
/** Runs `events` from a fresh connection at times 1, 2, 3…; the last step and every effect on the way. */
function run(events: ConnectionEvent[], from: Connection = initialConnection(0)) {
  let connection = from;
  const effects = [];
  for (const [index, event] of events.entries()) {
    const step = stepConnection(connection, event, index + 1, TIMINGS);
    connection = step.connection;
    effects.push(...step.effects);
  }
  return { connection, effects };
}
const answer = (isolated: boolean | undefined, connection = 1, isConnected = true): ConnectionEvent => ({
  kind: 'isolation',
  connection,
  isolated,
  isConnected,
});

describe('the upstream connection as a state machine', () => {
  it('is down until ElizaOS says it does not isolate, then up, and joins every channel', () => {
    const connected = run([{ kind: 'connected' }]);
    expect(connected.connection).toMatchObject({ state: 'down', connections: 1 });
    expect(connected.effects).toEqual([{ kind: 'forget-joins' }, { kind: 'ask-isolation', connection: 1 }]);
    const up = run([answer(false)], connected.connection);
    expect(up.connection).toMatchObject({ state: 'up', since: 1 });
    expect(up.effects).toEqual([{ kind: 'announce', state: 'up' }, { kind: 'join-all' }]);
  });

  it('is refused from the start when ElizaOS isolates, and joins nothing', () => {
    const { connection, effects } = run([{ kind: 'connected' }, answer(true)]);
    expect(connection.state).toBe('refused');
    expect(effects).not.toContainEqual({ kind: 'join-all' });
  });

  it('asks again after isolationRetryMs when ElizaOS could not tell, staying down', () => {
    const { connection, effects } = run([{ kind: 'connected' }, answer(undefined)]);
    expect(connection.state).toBe('down');
    expect(effects).toContainEqual({ kind: 'later', afterMs: 5_000, event: { kind: 'ask-due', connection: 1 } });
    expect(run([{ kind: 'ask-due', connection: 1 }], connection).effects).toEqual([{ kind: 'ask-isolation', connection: 1 }]);
  });

  it('takes an answer only for the connection it was asked on, while it is connected', () => {
    const twice = run([{ kind: 'connected' }, { kind: 'disconnected', reason: 'transport close' }, { kind: 'connected' }]);
    expect(run([answer(false, 1)], twice.connection).connection.state).toBe('down');
    expect(run([{ kind: 'ask-due', connection: 1 }], twice.connection).effects).toEqual([]);
    expect(run([answer(false, 2, false)], twice.connection).connection.state).toBe('down');
    expect(run([answer(false, 2)], twice.connection).connection.state).toBe('up');
  });

  it('goes down on a disconnect, forgets the joins and settles the sends under way', () => {
    const up = run([{ kind: 'connected' }, answer(false)]).connection;
    const { connection, effects } = run([{ kind: 'disconnected', reason: 'transport close' }], up);
    expect(connection.state).toBe('down');
    expect(effects).toEqual([{ kind: 'forget-joins' }, { kind: 'announce', state: 'down' }, { kind: 'settle-sends' }]);
  });

  it('reconnects by itself after the server ended the socket on purpose, one wait at a time', () => {
    const ended = run([
      { kind: 'disconnected', reason: 'io server disconnect' },
      { kind: 'disconnected', reason: 'io server disconnect' },
    ]);
    const waits = ended.effects.filter((effect) => effect.kind === 'later');
    expect(waits).toEqual([{ kind: 'later', afterMs: SERVER_DISCONNECT_RETRY_MS, event: { kind: 'retry-due' } }]);
    const due = run([{ kind: 'retry-due' }], ended.connection);
    expect(due.effects).toEqual([{ kind: 'reconnect' }]);
    expect(due.connection.isRetrying).toBe(false);
  });

  it('tries again after retryMs when the server refused the socket, and leaves socket.io to it otherwise', () => {
    expect(run([{ kind: 'connect-error', isActive: false }]).effects).toEqual([{ kind: 'later', afterMs: 30_000, event: { kind: 'retry-due' } }]);
    expect(run([{ kind: 'connect-error', isActive: true }]).effects).toEqual([]);
  });

  it('becomes refused when ElizaOS refuses a join, announcing it once', () => {
    const up = run([{ kind: 'connected' }, answer(false)]).connection;
    const { connection, effects } = run([{ kind: 'access-denied' }, { kind: 'access-denied' }], up);
    expect(connection.state).toBe('refused');
    expect(effects).toEqual([{ kind: 'announce', state: 'refused' }]);
  });

  it('does nothing more of its own once closed: no reconnect, no answer taken', () => {
    const closed = run([{ kind: 'connected' }, { kind: 'close' }]);
    expect(closed.effects).toContainEqual({ kind: 'settle-sends' });
    const after = run([answer(false), { kind: 'retry-due' }, { kind: 'connect-error', isActive: false }], closed.connection);
    expect(after.effects).toEqual([]);
    expect(after.connection.state).toBe('down');
  });

  it('is plain data: a connection restored from JSON steps the same', () => {
    const midway = run([{ kind: 'connected' }, answer(undefined)]).connection;
    const restored = JSON.parse(JSON.stringify(midway)) as Connection;
    expect(stepConnection(restored, answer(false), 9, TIMINGS)).toEqual(stepConnection(midway, answer(false), 9, TIMINGS));
  });
});
