/**
 * What one gateway knows of the cluster's push log (docs/cluster.md, "Push across
 * instances"), as data with pure functions over it: no Redis, no timers, time passed in as
 * epoch ms. server/gateway/redis/cluster-push-log.ts does the I/O around it.
 *
 * - The position: the log's epoch and the last entry handed to this instance's streams. A
 *   new epoch (Redis lost its data) numbers from 1 again, and nothing heard before it can be
 *   vouched for.
 * - Coverage: for each channel, the log number from which this instance has heard every
 *   message of it (joined, log answering). A browser coming back with an id at or after it
 *   can be replayed that channel from the log; for the others it is told `reset`.
 * - Announcements: until when this instance said it listens to a channel (every instance
 *   joins the channels listened to anywhere, so each hears every message).
 * - Unconfirmed: messages heard here and appended, not yet read back from the log; written
 *   locally if the log fails first or does not give them back in time.
 * - Stream marks: the last entry written to a stream, so none is written twice.
 */
import { parseEventId } from '../push/push-query';
import type { KeptEvent } from '../push/replay-log';
import type { LogPosition, LogRange, MessageEntry } from './push-log';

/** How long a message appended to the log may take to come back before it is written here anyway, ms. */
export const UNCONFIRMED_MS = 1_500;
/** How long an announcement of a channel lasts, and when it is renewed, ms. */
export const ANNOUNCE_MS = 60_000;
export const ANNOUNCE_RENEW_MS = 20_000;

/** Channel → the log number from which this instance has heard all of it. */
export class Coverage {
  readonly #from = new Map<string, number>();

  set(channelId: string, n: number): void {
    this.#from.set(channelId, n);
  }

  delete(channelId: string): void {
    this.#from.delete(channelId);
  }

  clear(): void {
    this.#from.clear();
  }

  /** True when every message of the channel after `since` went through the log while this instance heard it. */
  covers(channelId: string, since: number): boolean {
    return (this.#from.get(channelId) ?? Number.POSITIVE_INFINITY) <= since;
  }

  /** The covered channels that pass `isJoined`. */
  count(isJoined: (channelId: string) => boolean): number {
    return [...this.#from.keys()].filter(isJoined).length;
  }
}

/** Channel → until when its announcement runs (epoch ms). */
export class Announcements {
  readonly #until = new Map<string, number>();

  /** Of `channelIds`, the ones to announce (again) at `at`, marked announced until the returned `until`. */
  due(channelIds: Iterable<string>, at: number): { channelIds: string[]; until: number } {
    const until = at + ANNOUNCE_MS;
    const due = [...channelIds].filter((channelId) => (this.#until.get(channelId) ?? 0) - at < ANNOUNCE_MS - ANNOUNCE_RENEW_MS);
    for (const channelId of due) this.#until.set(channelId, until);
    return { channelIds: due, until };
  }

  /** Forgets the announcements that ran out by `at`. */
  expire(at: number): void {
    for (const [channelId, until] of this.#until) if (until <= at) this.#until.delete(channelId);
  }

  /** Forgets them all: Redis may come back empty, and then everything is announced again. */
  clear(): void {
    this.#until.clear();
  }
}

export interface PendingMessage {
  channelId: string;
  kept: KeptEvent;
}

/** Messages appended and not yet read back, by channel and message id. */
export class Unconfirmed {
  readonly #pending = new Map<string, PendingMessage>();

  add(channelId: string, messageId: string, kept: KeptEvent): void {
    this.#pending.set(`${channelId}:${messageId}`, { channelId, kept });
  }

  /** Takes the message out: undefined when it came back or was written already. */
  take(channelId: string, messageId: string): PendingMessage | undefined {
    const key = `${channelId}:${messageId}`;
    const pending = this.#pending.get(key);
    this.#pending.delete(key);
    return pending;
  }

  /** Takes out the messages heard before `at` - UNCONFIRMED_MS (a stuck read), in the order they were heard. */
  takeOverdue(at: number): PendingMessage[] {
    const old = at - UNCONFIRMED_MS;
    const overdue: PendingMessage[] = [];
    for (const [key, pending] of this.#pending) {
      if (pending.kept.at >= old) continue;
      this.#pending.delete(key);
      overdue.push(pending);
    }
    return overdue;
  }

  takeAll(): PendingMessage[] {
    const all = [...this.#pending.values()];
    this.#pending.clear();
    return all;
  }
}

/** Whether this instance follows the log, where in it, and what it can vouch for. */
export class ClusterView {
  readonly coverage = new Coverage();
  readonly announcements = new Announcements();
  readonly unconfirmed = new Unconfirmed();
  #position: LogPosition | undefined;
  #following = false;

  /** The log's epoch and the last entry handed on; undefined until the log was first read. Replaced (not changed) on a new epoch. */
  get position(): Readonly<LogPosition> | undefined {
    return this.#position;
  }

  /** True while events go through the log (it was read and Redis is up). */
  get following(): boolean {
    return this.#following;
  }

  /**
   * The log answered with `at` while not followed: back on the same epoch, reading goes on
   * from where this instance stopped (what came meanwhile is given then); on another, from
   * its start; the first time, from `at`. Returns where to read on from.
   */
  resume(at: LogPosition): Readonly<LogPosition> {
    if (this.#position) this.newEpoch(at.epoch);
    else this.#position = { epoch: at.epoch, n: at.n };
    return this.#position!;
  }

  /** The log was read back: events go through it from now on. */
  follow(): void {
    this.#following = true;
  }

  /**
   * The log failed or Redis went down: events are numbered locally again, nothing heard
   * before can be vouched for in the log, and what was appended but not read back is
   * returned, to be written now (a browser keeps a message once, by its id).
   */
  leave(): PendingMessage[] {
    if (!this.#following) return [];
    this.#following = false;
    this.coverage.clear();
    this.announcements.clear();
    return this.unconfirmed.takeAll();
  }

  /** The log's epoch is `epoch`: when it is not the one followed (Redis lost its data), the new one is followed from its start. */
  newEpoch(epoch: string): void {
    if (this.#position?.epoch === epoch) return;
    this.#position = { epoch, n: 0 };
    this.coverage.clear();
    this.announcements.clear();
  }

  /** Entries up to `n` were read (handed on, or passed over for failing the check: not read again). */
  advance(n: number): void {
    if (this.#position) this.#position.n = Math.max(this.#position.n, n);
  }
}

/** The last log entry written to a stream, of the log's epoch `epoch`. */
export interface StreamMark {
  epoch?: string;
  lastSent: number;
  /** Log entries that came while the stream's replay was read; written after it. */
  held?: MessageEntry[];
}

/** True (and the mark moved on) when entry `n` of `epoch` was not written to the stream yet. */
export function isUnsent(mark: StreamMark, epoch: string, n: number): boolean {
  // A new epoch (Redis came back empty) numbers from 1 again.
  if (mark.epoch !== epoch) {
    mark.epoch = epoch;
    mark.lastSent = 0;
  }
  if (n <= mark.lastSent) return false;
  mark.lastSent = n;
  return true;
}

/** How a stream opened on the log starts: its hello's id and mark, who is told `reset` at once, which channels are replayed from `since`. */
export interface LogOpening {
  helloId: string;
  mark: StreamMark;
  reset: string[];
  replay: Set<string>;
  since: number;
}

/**
 * A stream opens while the log stands at `at`: without an id of this epoch it starts there
 * (an id of another epoch: every session reset); with one, the channels covered since that id
 * are replayed from the log and the others reset.
 */
export function openOnLog(
  lastEventId: string | undefined,
  at: LogPosition,
  sessions: ReadonlyMap<string, string>,
  isCovered: (channelId: string, since: number) => boolean,
): LogOpening {
  const id = lastEventId === undefined ? undefined : parseEventId(lastEventId);
  if (!id || id.epoch !== at.epoch) {
    return {
      helloId: `${at.epoch}.${at.n}`,
      mark: { epoch: at.epoch, lastSent: at.n },
      reset: id ? [...sessions.values()] : [],
      replay: new Set(),
      since: at.n,
    };
  }
  const replay = new Set([...sessions.keys()].filter((channelId) => isCovered(channelId, id.n)));
  const reset = [...sessions].filter(([channelId]) => !replay.has(channelId)).map(([, sessionId]) => sessionId);
  return { helloId: lastEventId!, mark: { epoch: at.epoch, lastSent: id.n }, reset, replay, since: id.n };
}

/**
 * What the log's answer gives a stream opened with `opening`: the entries to write (messages
 * of the replayed channels; notices are not replayed, a browser that comes back syncs anyway),
 * or undefined when the range cannot be vouched for (trimmed, too long, another epoch, behind
 * the id): its replayed channels are then reset.
 */
export function replayFromRange(range: LogRange | undefined, opening: LogOpening, epoch: string): MessageEntry[] | undefined {
  if (!range?.entries || range.epoch !== epoch || range.n < opening.since) return undefined;
  return range.entries.filter((entry): entry is MessageEntry => entry.kind === 'message' && opening.replay.has(entry.channelId));
}
