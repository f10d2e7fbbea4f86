/**
 * The gateway's link to Redis (REDIS_URL), which the instances of a cluster share their
 * state through (docs/cluster.md). Redis is a help, never a dependency: the link is made
 * in the background, commands fail at once while it is down (no offline queue) and after
 * 0.5 s while it does not answer (a Redis paused or cut off without a reset), each user of
 * the link falls back to its own local state then, and the link comes back by itself
 * (node-redis's reconnection, 0.1 s doubling to 5 s; a PING every second notices a Redis
 * that stopped or started answering again). Every change is said once in the log and
 * shown in `/health`.
 */
import { createClient } from 'redis';
import { isRecord } from '../../../src/shared/ids';

export type RedisState = 'up' | 'down';

export interface RedisStats {
  state: RedisState;
  /** Epoch ms of the last change of state (the link's creation before any). */
  since: number;
  /** Commands that failed (each one a fallback to local state). */
  failures: number;
}

/** How long a command may take before its caller uses local state instead, ms. */
export const REDIS_COMMAND_TIMEOUT_MS = 500;
/** Failed commands in a row that make the link count as down (a Redis that accepts but does not answer). */
const FAILURES_FOR_DOWN = 3;

export interface RedisLink {
  /** Sends one command; rejects at once while the link is down. */
  send(args: string[]): Promise<unknown>;
  /**
   * Sends one blocking command (XREAD … BLOCK) on a connection of its own, made at the first
   * call, so it holds up no other command; it may take `timeoutMs` before it is given up.
   */
  block(args: string[], timeoutMs: number): Promise<unknown>;
  state(): RedisState;
  /** Calls `listener` on each change of state; returns the disposer. */
  onState(listener: (state: RedisState) => void): () => void;
  /** A command of a user of the link failed: counted, and a sign the link may be down. */
  noteFailure(error: unknown): void;
  stats(): RedisStats;
  close(): Promise<void>;
}

/** What the link uses of its connection for blocking commands. */
interface BlockingClient {
  sendCommand(args: string[], options: { timeout: number }): Promise<unknown>;
  destroy(): void;
  readonly isReady: boolean;
  once(event: 'ready', listener: () => void): unknown;
  off(event: 'ready', listener: () => void): unknown;
}

export interface RedisLinkOptions {
  url: URL;
  /** Where changes of state are said (the gateway's log). */
  log: (line: string) => void;
  now?: () => number;
}

/** Sends `command` while the link is up; undefined (the failure counted) when it is down or the command fails. */
export async function sendQuietly(link: RedisLink, command: string[]): Promise<unknown> {
  if (link.state() !== 'up') return undefined;
  try {
    return await link.send(command);
  } catch (error) {
    link.noteFailure(error);
    return undefined;
  }
}

/** A JSON object stored in Redis, parsed; undefined for anything else (not a string, not JSON, not an object). */
export function storedObject(raw: unknown): Record<string, unknown> | undefined {
  if (typeof raw !== 'string') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  return isRecord(value) ? value : undefined;
}

/** The URL as it may be shown: no user name or password. */
export function shownRedisUrl(url: URL): string {
  return `${url.protocol}//${url.hostname}${url.port ? `:${url.port}` : ''}${url.pathname === '/' ? '' : url.pathname}`;
}

/** Waits between reconnection attempts: 100 ms doubling, at most 5 s. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(100 * 2 ** attempt, 5_000);
}

export function createRedisLink(options: RedisLinkOptions): RedisLink {
  const now = options.now ?? Date.now;
  const shown = shownRedisUrl(options.url);
  const listeners = new Set<(state: RedisState) => void>();
  let state: RedisState = 'down';
  let since = now();
  let failures = 0;
  let closed = false;
  /** Whether the log has said the link is down since it was last up (said once an outage). */
  let saidDown = false;

  const client = createClient({
    url: options.url.href,
    // A command while the link is down fails at once: its caller uses local state instead of waiting.
    disableOfflineQueue: true,
    commandOptions: { timeout: REDIS_COMMAND_TIMEOUT_MS },
    pingInterval: 1_000,
    socket: { connectTimeout: 2_000, reconnectStrategy: (attempt) => reconnectDelayMs(attempt) },
  });
  /** Failed commands since the last one that worked. */
  let failuresInARow = 0;
  /** The connection for blocking commands, made when first needed. */
  let blocking: BlockingClient | undefined;

  function blockingClient(): BlockingClient {
    if (blocking) return blocking;
    // No PING of its own: it would wait behind the blocked command. The main link says up or down.
    const made = client.duplicate({ pingInterval: 0, commandOptions: {} });
    made.on('error', () => {
      // Said by the main link (the same Redis); a blocked read that fails is retried by its caller.
    });
    made.connect().catch(() => {
      // Reconnects by itself; commands meanwhile fail at once.
    });
    blocking = made;
    return made;
  }

  function setState(next: RedisState, why?: string): void {
    if (closed) return;
    if (next === state) {
      if (next === 'down' && !saidDown && why) sayDown(why);
      return;
    }
    state = next;
    since = now();
    if (next === 'up') {
      saidDown = false;
      options.log(`Redis at ${shown} is reachable: this gateway shares its limits and state with the others on it.`);
    } else sayDown(why ?? 'the connection ended');
    for (const listener of listeners) listener(next);
  }

  function sayDown(why: string): void {
    saidDown = true;
    options.log(`Redis at ${shown} is unreachable (${why}): this gateway counts its limits and keeps its state on its own until it is back.`);
  }

  client.on('ready', () => {
    failuresInARow = 0;
    setState('up');
  });
  // A PING answered: a Redis that had stopped answering (without dropping the connection) is back.
  client.on('ping-interval', () => {
    failuresInARow = 0;
    setState('up');
  });
  client.on('end', () => setState('down', 'the connection ended'));
  client.on('reconnecting', () => setState('down', 'reconnecting'));
  // node-redis emits every socket error here; without a listener it would throw.
  client.on('error', (error: unknown) => setState('down', error instanceof Error ? error.message || error.name : String(error)));
  // Not awaited: the gateway serves from the start, with local state until Redis answers.
  client.connect().catch((error: unknown) => setState('down', error instanceof Error ? error.message : String(error)));

  function noteFailure(): void {
    failures++;
    failuresInARow++;
    if (failuresInARow >= FAILURES_FOR_DOWN) setState('down', 'it does not answer');
  }

  return {
    send: async (args) => {
      const reply = await client.sendCommand(args);
      failuresInARow = 0;
      return reply;
    },
    async block(args, timeoutMs) {
      const made = blockingClient();
      // Its connection is made at the first call (and again after Redis comes back): wait for it, not for the queue it does not have.
      if (!made.isReady) {
        await new Promise<void>((resolve, reject) => {
          const ready = () => {
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(() => {
            made.off('ready', ready);
            reject(new Error('the connection for blocking commands is not ready'));
          }, REDIS_COMMAND_TIMEOUT_MS * 4);
          made.once('ready', ready);
        });
      }
      return made.sendCommand(args, { timeout: timeoutMs });
    },
    state: () => state,
    onState(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    noteFailure,
    stats: () => ({ state, since, failures }),
    async close() {
      closed = true;
      listeners.clear();
      for (const made of [client, blocking]) {
        try {
          made?.destroy();
        } catch {
          // Never connected: nothing to end.
        }
      }
    },
  };
}
