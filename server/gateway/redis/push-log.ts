/**
 * The push events of a cluster's gateways, in one log on Redis (docs/cluster.md, "Push
 * across instances"): a Redis stream, `purl:push:log`, with one entry per message heard
 * from ElizaOS, whichever instance heard it first, numbered 1, 2, 3… under the cluster's
 * epoch (`purl:push:epoch`, made when Redis has none: a Redis that lost its data starts a
 * new epoch, and ids of the old one are answered with `reset`).
 *
 * A stream and not pub/sub: a browser whose instance died comes back through another one
 * with the last id it saw, and that instance must replay what it missed; pub/sub keeps
 * nothing (a subscriber that was away, reconnecting, misses what was said meanwhile),
 * a stream keeps the last entries, numbered, for XRANGE to read again and XREAD BLOCK to
 * follow. Every instance that hears a message appends it; a script keeps one entry per
 * message (`purl:push:seen:<channel>:<message id>`), so the log has each message once and
 * every instance gives it the same id.
 *
 * The channels listened to anywhere in the cluster are kept in `purl:push:channels` (a
 * sorted set, each channel's score the time its announcement ends): every instance joins
 * them all upstream, so a message is heard by each live instance and a browser that moves
 * to another instance finds it already listening.
 */
import { randomBytes } from 'node:crypto';
import { isUuid } from '../../../src/shared/ids';
import { type RedisLink, sendQuietly, storedObject } from './redis';
import type { PushedMessage } from '../upstream/upstream-socket';

const EPOCH = 'purl:push:epoch';
const SEQ = 'purl:push:seq';
const LOG = 'purl:push:log';
const SEEN = 'purl:push:seen:';
const CHANNELS = 'purl:push:channels';

/** Entries kept in the log (about: trimmed with `~`); a browser further behind is told `reset`. */
export const LOG_ENTRIES = 10_000;
/** How long an appended message's id is kept, so a late hearer finds it, ms. */
const SEEN_MS = 10 * 60_000;

/** The start of the scripts that may make the epoch: KEYS[1..3] epoch, seq, log; ARGV[1] a new epoch. */
const WITH_EPOCH = `
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('SET', KEYS[1], epoch)
end`;

/**
 * Makes the epoch when Redis has none (and empties what an old one left), then appends the
 * message unless it is there already. Answers [epoch, n, 1 if appended].
 * KEYS: epoch, seq, log, seen. ARGV: a new epoch, channel, message JSON, seen ms, entries kept, message id.
 */
const APPEND = `${WITH_EPOCH}
local seen = redis.call('GET', KEYS[4])
if seen then return {epoch, seen, 0} end
local n = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], n .. '-0', 'c', ARGV[2], 'i', ARGV[6], 'm', ARGV[3])
redis.call('SET', KEYS[4], n, 'PX', ARGV[4])
return {epoch, tostring(n), 1}`;

/**
 * Appends a `memories` notice (never replayed: a browser that comes back syncs anyway).
 * KEYS: epoch, seq, log. ARGV: a new epoch, agent id, cursor, entries kept.
 */
const NOTICE = `${WITH_EPOCH}
local n = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], n .. '-0', 'k', 'memories', 'a', ARGV[2], 'u', ARGV[3])
return {epoch, tostring(n), 1}`;

/** The epoch (made when missing) and the last number given. KEYS: epoch, seq, log. ARGV: a new epoch. */
const POSITION = `${WITH_EPOCH}
return {epoch, redis.call('GET', KEYS[2]) or '0'}`;

/**
 * What a browser that saw `since` missed: the epoch, the last number given, the first entry
 * still kept (0 when none) and up to ARGV[2] entries after `since`. KEYS: epoch, seq, log.
 */
const SINCE = `
local epoch = redis.call('GET', KEYS[1])
if not epoch then return {} end
local first = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)
local firstN = '0'
if #first > 0 then firstN = string.match(first[1][1], '^(%d+)') end
return {epoch, redis.call('GET', KEYS[2]) or '0', firstN, redis.call('XRANGE', KEYS[3], '(' .. ARGV[1] .. '-0', '+', 'COUNT', ARGV[2])}`;

/** A log entry: a message heard on a channel, or a notice that an agent's memories changed. */
export type LogEntry = MessageEntry | NoticeEntry;

export interface NoticeEntry {
  kind: 'memories';
  n: number;
  agentId: string;
  /** The sync route's cursor when the change was found. */
  cursor: string;
}

export interface MessageEntry {
  kind: 'message';
  n: number;
  channelId: string;
  messageId: string;
  /** The message, as JSON (as it was heard and checked). */
  json: string;
}

export interface LogPosition {
  epoch: string;
  /** The last number given in the epoch (0: none yet). */
  n: number;
}

export interface LogRange {
  epoch: string;
  /** Every entry after the asked number, when they are all still kept; undefined when some were trimmed or too many. */
  entries?: LogEntry[];
  n: number;
}

export interface SharedPushLog {
  /** Appends a heard message (once for the cluster): its epoch and number, or undefined when Redis did not answer. */
  append(channelId: string, messageId: string, json: string): Promise<LogPosition | undefined>;
  /** Appends a notice that `agentId`'s memories changed, for every instance's streams: its position, or undefined when Redis did not answer. */
  notice(agentId: string, cursor: string): Promise<LogPosition | undefined>;
  /** The epoch and the last number given, or undefined when Redis did not answer. */
  position(): Promise<LogPosition | undefined>;
  /** The entries after `n`, at most `max` (more: none given, a reset), or undefined when Redis did not answer. */
  since(n: number, max: number): Promise<LogRange | undefined>;
  /**
   * Waits up to `blockMs` (0: not at all) for entries after `n`: the ones that pass the check,
   * and the number of the last one read (one that fails the check is passed over, never read
   * again); undefined when Redis did not answer.
   */
  follow(n: number, blockMs: number): Promise<{ entries: LogEntry[]; last: number } | undefined>;
  /** Says the channels are listened to here until `until` (epoch ms). Never rejects. */
  announce(channelIds: string[], until: number): Promise<void>;
  /** The channels listened to anywhere in the cluster now, or undefined when Redis did not answer. */
  channels(now: number): Promise<string[] | undefined>;
}

const isString = (value: unknown): value is string => typeof value === 'string';

/** A message as the log keeps it (server/gateway/upstream/upstream-socket.ts `PushedMessage`), checked; undefined when it is not one. */
export function parsePushedMessage(json: string | undefined): PushedMessage | undefined {
  const value = storedObject(json);
  if (!value) return undefined;
  const { id, content, authorId, isAgent, createdAt, metadata } = value;
  if (typeof id !== 'string' || !isUuid(id) || typeof content !== 'string' || typeof authorId !== 'string' || !isUuid(authorId)) return undefined;
  if (typeof isAgent !== 'boolean' || typeof createdAt !== 'number' || !Number.isFinite(createdAt)) return undefined;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return undefined;
  const { thought, actions, clientMessageId } = metadata as Record<string, unknown>;
  const checked: PushedMessage['metadata'] = {};
  if (typeof thought === 'string') checked.thought = thought;
  if (Array.isArray(actions)) checked.actions = actions.filter((action): action is string => typeof action === 'string');
  if (typeof clientMessageId === 'string') checked.clientMessageId = clientMessageId;
  return { id, content, authorId, isAgent, createdAt, metadata: checked };
}

/** An XRANGE/XREAD entry ([id, [field, value, …]]) as a log entry, or undefined when it is not one of ours. */
export function parseLogEntry(raw: unknown): LogEntry | undefined {
  if (!Array.isArray(raw) || raw.length !== 2 || !isString(raw[0]) || !Array.isArray(raw[1])) return undefined;
  const match = /^([1-9][0-9]{0,14})-0$/.exec(raw[0]);
  if (!match) return undefined;
  const fields = raw[1] as unknown[];
  const field = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const [name, value] = [fields[i], fields[i + 1]];
    if (isString(name) && isString(value)) field.set(name, value);
  }
  const n = Number(match[1]);
  if (field.get('k') === 'memories') {
    const agentId = field.get('a');
    const cursor = field.get('u');
    return agentId !== undefined && isUuid(agentId) && cursor !== undefined && CURSOR.test(cursor) ? { kind: 'memories', n, agentId, cursor } : undefined;
  }
  const channelId = field.get('c');
  const messageId = field.get('i');
  const message = parsePushedMessage(field.get('m'));
  if (channelId === undefined || !isUuid(channelId) || !message || message.id !== messageId) return undefined;
  // Written again from what was checked: nothing else of what Redis held reaches a stream.
  return { kind: 'message', n, channelId, messageId, json: JSON.stringify(message) };
}

/** The entries of a one-stream XREAD answer: RESP3's map `{stream: [entry, …]}` (node-redis's default) or RESP2's `[[stream, [entry, …]]]`. */
export function xreadItems(raw: unknown): unknown[] | undefined {
  if (Array.isArray(raw)) return Array.isArray(raw[0]) && Array.isArray(raw[0][1]) ? (raw[0][1] as unknown[]) : undefined;
  if (typeof raw !== 'object' || raw === null) return undefined;
  const streams = raw instanceof Map ? [...raw.values()] : Object.values(raw);
  return streams.length === 1 && Array.isArray(streams[0]) ? (streams[0] as unknown[]) : undefined;
}

const EPOCH_FORMAT = /^[0-9a-f]{12}$/;
/** A sync cursor (server/gateway/edge/sync.ts). */
const CURSOR = /^[0-9a-f]{12}\.(0|[1-9][0-9]{0,14})$/;

function parsePosition(raw: unknown): LogPosition | undefined {
  if (!Array.isArray(raw) || !isString(raw[0]) || !EPOCH_FORMAT.test(raw[0]) || !isString(raw[1]) || !/^[0-9]{1,15}$/.test(raw[1])) return undefined;
  return { epoch: raw[0], n: Number(raw[1]) };
}

export function createSharedPushLog(link: RedisLink): SharedPushLog {
  const newEpoch = () => randomBytes(6).toString('hex');
  const quietly = (command: string[]) => sendQuietly(link, command);

  return {
    async append(channelId, messageId, json) {
      return parsePosition(
        await quietly([
          'EVAL',
          APPEND,
          '4',
          EPOCH,
          SEQ,
          LOG,
          `${SEEN}${channelId}:${messageId}`,
          newEpoch(),
          channelId,
          json,
          String(SEEN_MS),
          String(LOG_ENTRIES),
          messageId,
        ]),
      );
    },
    async notice(agentId, cursor) {
      return parsePosition(await quietly(['EVAL', NOTICE, '3', EPOCH, SEQ, LOG, newEpoch(), agentId, cursor, String(LOG_ENTRIES)]));
    },
    async position() {
      return parsePosition(await quietly(['EVAL', POSITION, '3', EPOCH, SEQ, LOG, newEpoch()]));
    },
    async since(n, max) {
      const raw = await quietly(['EVAL', SINCE, '3', EPOCH, SEQ, LOG, String(n), String(max + 1)]);
      if (!Array.isArray(raw) || raw.length !== 4 || !Array.isArray(raw[3]) || !isString(raw[2]) || !/^[0-9]{1,15}$/.test(raw[2])) return undefined;
      const position = parsePosition(raw);
      if (!position) return undefined;
      const firstKept = Number(raw[2]);
      const entries = (raw[3] as unknown[]).map(parseLogEntry);
      // Entries after n were trimmed (the first kept is past n + 1, and some were given), or too many to replay.
      const trimmed = position.n > n && (firstKept === 0 || firstKept > n + 1);
      if (trimmed || entries.length > max || entries.some((entry) => entry === undefined)) return { ...position };
      return { ...position, entries: entries as LogEntry[] };
    },
    async follow(n, blockMs) {
      if (link.state() !== 'up') return undefined;
      let raw: unknown;
      try {
        const wait = blockMs > 0 ? ['BLOCK', String(blockMs)] : [];
        raw = await link.block(['XREAD', 'COUNT', '1000', ...wait, 'STREAMS', LOG, `${n}-0`], blockMs + 1_000);
      } catch (error) {
        link.noteFailure(error);
        return undefined;
      }
      if (raw === null) return { entries: [], last: n };
      const items = xreadItems(raw);
      if (!items) return undefined;
      const entries: LogEntry[] = [];
      let last = n;
      for (const item of items) {
        const id = Array.isArray(item) && typeof item[0] === 'string' ? /^([0-9]{1,15})-[0-9]+$/.exec(item[0]) : null;
        if (id) last = Math.max(last, Number(id[1]));
        const entry = parseLogEntry(item);
        if (entry) entries.push(entry);
      }
      return { entries, last };
    },
    async announce(channelIds, until) {
      if (channelIds.length === 0) return;
      const args = ['ZADD', CHANNELS, 'GT'];
      for (const channelId of channelIds) args.push(String(until), channelId);
      await quietly(args);
    },
    async channels(now) {
      // Ended announcements go first, then what is left is the cluster's.
      await quietly(['ZREMRANGEBYSCORE', CHANNELS, '-inf', String(now)]);
      const raw = await quietly(['ZRANGE', CHANNELS, String(now), '+inf', 'BYSCORE']);
      return Array.isArray(raw) && raw.every(isString) ? raw : undefined;
    },
  };
}
