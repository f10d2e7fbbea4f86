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
import { closedLink, commandFailed, commandWorked, initialLinkState, type LinkStep, linkAnswered, linkLost, type RedisState } from './link-state';

export type { RedisState } from './link-state';

export interface RedisStats {
  state: RedisState;
  /** Epoch ms of the last change of state (the link's creation before any). */
  since: number;
  /** Commands that failed (each one a fallback to local state). */
  failures: number;
}

/** How long a command may take before its caller uses local state instead, ms. */
export const REDIS_COMMAND_TIMEOUT_MS = 500;

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
  let link = initialLinkState(now());

  function apply(step: LinkStep): void {
    link = step.next;
    if (step.say?.up) options.log(`Redis at ${shown} is reachable: this gateway shares its limits and state with the others on it.`);
    else if (step.say) {
      options.log(`Redis at ${shown} is unreachable (${step.say.why}): this gateway counts its limits and keeps its state on its own until it is back.`);
    }
    if (step.changed) for (const listener of listeners) listener(link.state);
  }
  const answered = () => apply(linkAnswered(link, now()));
  const lost = (why: string) => apply(linkLost(link, why, now()));
  const reason = (error: unknown) => (error instanceof Error ? error.message || error.name : String(error));

  const client = createClient({
    url: options.url.href,
    // A command while the link is down fails at once: its caller uses local state instead of waiting.
    disableOfflineQueue: true,
    commandOptions: { timeout: REDIS_COMMAND_TIMEOUT_MS },
    pingInterval: 1_000,
    socket: { connectTimeout: 2_000, reconnectStrategy: (attempt) => reconnectDelayMs(attempt) },
  });
  client.on('ready', answered);
  // A PING answered: a Redis that had stopped answering (without dropping the connection) is back.
  client.on('ping-interval', answered);
  client.on('end', () => lost('the connection ended'));
  client.on('reconnecting', () => lost('reconnecting'));
  // node-redis emits every socket error here; without a listener it would throw.
  client.on('error', (error: unknown) => lost(reason(error)));
  // Not awaited: the gateway serves from the start, with local state until Redis answers.
  client.connect().catch((error: unknown) => lost(reason(error)));
  const blocking = lazyBlockingClient(() => {
    // No PING of its own: it would wait behind the blocked command. The main link says up or down.
    const made = client.duplicate({ pingInterval: 0, commandOptions: {} });
    made.on('error', () => {
      // Said by the main link (the same Redis); a blocked read that fails is retried by its caller.
    });
    made.connect().catch(() => {
      // Reconnects by itself; commands meanwhile fail at once.
    });
    return made;
  });

  return {
    send: async (args) => {
      const reply = await client.sendCommand(args);
      link = commandWorked(link);
      return reply;
    },
    block: (args, timeoutMs) => blocking.send(args, timeoutMs),
    state: () => link.state,
    onState(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    noteFailure: () => apply(commandFailed(link, now())),
    stats: () => ({ state: link.state, since: link.since, failures: link.failures }),
    async close() {
      link = closedLink(link);
      listeners.clear();
      for (const made of [client, blocking.made()]) {
        try {
          made?.destroy();
        } catch {
          // Never connected: nothing to end.
        }
      }
    },
  };
}

/** The connection for blocking commands, made by `make` at the first one. */
function lazyBlockingClient(make: () => BlockingClient) {
  let blocking: BlockingClient | undefined;
  return {
    made: () => blocking,
    async send(args: string[], timeoutMs: number): Promise<unknown> {
      blocking ??= make();
      const connection = blocking;
      // Its connection is made at the first call (and again after Redis comes back): wait for it, not for the queue it does not have.
      if (!connection.isReady) await ready(connection);
      return connection.sendCommand(args, { timeout: timeoutMs });
    },
  };
}

function ready(connection: BlockingClient): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      connection.off('ready', onReady);
      reject(new Error('the connection for blocking commands is not ready'));
    }, REDIS_COMMAND_TIMEOUT_MS * 4);
    connection.once('ready', onReady);
  });
}
