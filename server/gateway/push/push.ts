/**
 * The push route (docs/push.md): the agent's replies as Server-Sent Events, as ElizaOS
 * makes them.
 *
 *   GET /api/purl/push?session=<sessionId>.<channelId>.<pushToken>[&session=…][&lastEventId=<epoch>.<seq>]
 *
 * Each session's token must be the one the gateway added to that session's create answer
 * (server/gateway/push/push-token.ts); the gateway then listens to the session's channel on its
 * one upstream socket (server/gateway/upstream/upstream-socket.ts) and writes every message of it
 * to the stream. Events carry ids `<epoch>.<seq>`; the gateway keeps the last events of
 * each channel for a while, so a browser that comes back with the last id it saw (the
 * `Last-Event-ID` header EventSource sends on its own reconnects) gets what it missed,
 * in order, first; when that cannot be done (another gateway start, or older than what is
 * kept, or a channel not listened to since) it gets `reset` with the sessions to read once.
 * Every stream also hears `memories` when an agent's memories changed (the sync route found
 * it; server/gateway/edge/memories-notice.ts says when), so a browser syncs them at once.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError } from '../door/errors';
import type { LogEntry, MessageEntry, SharedPushLog } from '../redis/push-log';
import { isPushToken, PUSH_TOKEN_LENGTH } from './push-token';
import type { RedisState } from '../redis/redis';
import type { PushedMessage, UpstreamSocket, UpstreamState } from '../upstream/upstream-socket';

export const PUSH_PATH = '/api/purl/push';
/** Sessions one stream may carry: a browser has one chat per agent. */
export const MAX_SESSIONS_PER_STREAM = 8;

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
const SESSION = new RegExp(`^(${UUID})\\.(${UUID})\\.([A-Za-z0-9_-]{${PUSH_TOKEN_LENGTH}})$`);
const EVENT_ID = /^([0-9a-f]{12})\.(0|[1-9][0-9]{0,14})$/;
/** How long a client waits before opening another stream when it has too many, s. */
const RETRY_AFTER_S = 10;
/** A stream whose browser does not read what it is sent is ended past this many unsent bytes. */
const MAX_UNSENT_BYTES = 1024 * 1024;

export interface PushSession {
  sessionId: string;
  channelId: string;
  token: string;
}

export interface PushQuery {
  sessions: PushSession[];
  /** The last event id the browser saw (Last-Event-ID wins over the query's lastEventId). */
  lastEventId?: string;
}

/**
 * The push route's query, or a sentence saying what is wrong with it; undefined when the
 * request is not for the push route.
 */
export function matchPushRoute(method: string, rawUrl: string, lastEventIdHeader?: string | string[]): { query: PushQuery } | { problem: string } | undefined {
  const questionMark = rawUrl.indexOf('?');
  const path = questionMark < 0 ? rawUrl : rawUrl.slice(0, questionMark);
  if (path !== PUSH_PATH || method !== 'GET') return undefined;
  return parsePushQuery(new URLSearchParams(questionMark < 0 ? '' : rawUrl.slice(questionMark + 1)), lastEventIdHeader);
}

/** The push route's query (and the Last-Event-ID header), or a sentence saying what is wrong with it. */
export function parsePushQuery(params: URLSearchParams, lastEventIdHeader?: string | string[]): { query: PushQuery } | { problem: string } {
  const unknown = [...params.keys()].find((name) => name !== 'session' && name !== 'lastEventId');
  if (unknown !== undefined) return { problem: `The parameter "${unknown}" is not accepted here; only session and lastEventId are.` };
  const raw = params.getAll('session');
  if (raw.length === 0 || raw.length > MAX_SESSIONS_PER_STREAM) {
    return { problem: `Give 1 to ${MAX_SESSIONS_PER_STREAM} session parameters, each <sessionId>.<channelId>.<pushToken>; got ${raw.length}.` };
  }
  const sessions: PushSession[] = [];
  for (const value of raw) {
    const match = SESSION.exec(value);
    if (!match) return { problem: 'Each session parameter must be <sessionId>.<channelId>.<pushToken>, as the session was created.' };
    sessions.push({ sessionId: match[1]!.toLowerCase(), channelId: match[2]!.toLowerCase(), token: match[3]! });
  }
  const fromQuery = params.getAll('lastEventId');
  if (fromQuery.length > 1) return { problem: 'The lastEventId parameter may be given once.' };
  const header = Array.isArray(lastEventIdHeader) ? lastEventIdHeader[0] : lastEventIdHeader;
  const lastEventId = header !== undefined && header !== '' ? header : fromQuery[0];
  if (lastEventId !== undefined && !EVENT_ID.test(lastEventId))
    return { problem: 'The last event id must be one this gateway sent; leave it out to start afresh.' };
  return { query: lastEventId === undefined ? { sessions } : { sessions, lastEventId } };
}

export interface PushOptions {
  key: Buffer;
  upstream: UpstreamSocket;
  /** Open streams per client (WS_MAX_CONNECTIONS_PER_IP). */
  maxStreamsPerClient: number;
  /** Events kept per channel for replay (default 100). */
  keepEvents?: number;
  /** How long an event is kept for replay, ms (default 10 min). */
  keepMs?: number;
  /** The keep-alive comment's period, ms (default 15 s): proxies end connections that stay silent. */
  keepAliveMs?: number;
  now?: () => number;
  epoch?: string;
  /**
   * The cluster's push log on Redis (docs/cluster.md, "Push across instances"): with it,
   * events carry the cluster's ids, reach this instance's streams whichever instance heard
   * them, and are replayed to a browser that comes from another instance. While Redis is
   * down the gateway numbers and keeps its events on its own, as without it.
   */
  shared?: { log: SharedPushLog; state: () => RedisState; onState: (listener: (state: RedisState) => void) => () => void };
  /** How long a wait for the log's next entries lasts before it is asked again, ms (default 5 s). */
  followBlockMs?: number;
  /** How often the cluster's channels are announced and read, ms (default 2 s). */
  clusterJoinEveryMs?: number;
}

export interface PushStats {
  upstream: { state: UpstreamState; since: number };
  /** Channels joined upstream. */
  channels: number;
  /** Open streams. */
  streams: number;
  /** Messages received from ElizaOS and kept. */
  eventsIn: number;
  /** Message events written to streams (replays included). */
  eventsOut: number;
  /** `memories` events written to streams. */
  memoriesOut: number;
  /** Broadcasts that failed the boundary check. */
  dropped: number;
  /** Streams that came back with an event id and were given what they missed. */
  replayed: number;
  /** Sessions told `reset` (their chat read once) because what they missed could not be given. */
  resets: number;
  /** With a shared log: whether events go through it now (`shared`) or are kept here (`local`, Redis down). */
  log?: {
    mode: 'shared' | 'local';
    epoch?: string;
    n?: number;
    /** The cluster's channels this instance listens to upstream. */
    clusterChannels: number;
    /** The channels this instance has heard throughout since a known point of the log: the ones it can replay. */
    coveredChannels: number;
  };
}

export interface Push {
  serve(req: IncomingMessage, res: ServerResponse, query: PushQuery, client: string): void;
  /**
   * Tells every open stream that `agentId`'s memories changed and the sync route stands at
   * `cursor` (a `memories` event: no id, never replayed; a browser that reconnects syncs anyway).
   * Every browser may read an agent's public memories: the event names no memory.
   */
  memoriesChanged(agentId: string, cursor: string): void;
  stats(): PushStats;
  /** Ends every stream and the upstream socket. */
  close(): void;
}

interface Kept {
  seq: number;
  at: number;
  /** The message, as JSON. */
  json: string;
}

interface ChannelLog {
  events: Kept[];
  /** Every message of the channel heard after this sequence number is still in `events`: a replay may start here or later. */
  completeFrom: number;
}

interface Stream {
  res: ServerResponse;
  /** Channel → the session it belongs to. */
  sessions: Map<string, string>;
  /** The last log entry written (shared mode), of the log's epoch `lastEpoch`: an entry at or before it is not written again. */
  lastSent: number;
  lastEpoch?: string;
  /** Log entries that came while the stream's replay was read; written after it. */
  held?: MessageEntry[];
}

/** How long a message appended to the shared log may take to come back before it is written here anyway, ms. */
const UNCONFIRMED_MS = 1_500;
/** Entries a replay from the shared log may give at most; further behind, the browser reads its chat once. */
const MAX_REPLAY = 1_000;
/** How long an announcement of a channel lasts, and when it is renewed, ms. */
const ANNOUNCE_MS = 60_000;
const ANNOUNCE_RENEW_MS = 20_000;

export function createPush(options: PushOptions): Push {
  const now = options.now ?? Date.now;
  const epoch = options.epoch ?? randomBytes(6).toString('hex');
  const keepEvents = options.keepEvents ?? 100;
  const keepMs = options.keepMs ?? 10 * 60_000;
  const keepAliveMs = options.keepAliveMs ?? 15_000;
  const { upstream } = options;
  const logs = new Map<string, ChannelLog>();
  const streams = new Set<Stream>();
  /** Channel → the streams that listen to it: a message costs its own listeners, not every open stream (bench/push-fanout.ts). */
  const listening = new Map<string, Set<Stream>>();
  const perClient = new Map<string, number>();
  let seq = 0;
  let eventsIn = 0;
  let eventsOut = 0;
  let memoriesOut = 0;
  let replayed = 0;
  let resets = 0;
  let keepAlive: NodeJS.Timeout | undefined;
  let closed = false;
  const shared = options.shared;
  /** The shared log's epoch and the last entry handed to this instance's streams; undefined until known. */
  let cluster: { epoch: string; n: number } | undefined;
  /** True while events go through the shared log (it was read and Redis is up). */
  let following = false;
  /** Messages heard here and appended, not yet come back from the log: written locally if the log fails first. */
  const unconfirmed = new Map<string, { channelId: string; kept: Kept; at: number }>();
  /** Channel → the log number from which this instance has heard every message of it (joined, log answering). */
  const coveredFrom = new Map<string, number>();
  /** The cluster's channels this instance listens to upstream, with their releases. */
  const clusterJoins = new Map<string, () => void>();
  /** Channel → until when its announcement runs. */
  const announced = new Map<string, number>();

  const position = () => `${epoch}.${seq}`;

  function write(stream: Stream, text: string): void {
    const { res } = stream;
    if (res.destroyed) return;
    if (res.writableLength > MAX_UNSENT_BYTES) {
      res.destroy();
      return;
    }
    res.write(text);
  }

  const frame = (event: string, data: unknown, id?: string) => `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
  const messageFrame = (sessionId: string, kept: Kept) =>
    `id: ${epoch}.${kept.seq}\nevent: message\ndata: {"sessionId":"${sessionId}","message":${kept.json}}\n\n`;
  const entryFrame = (sessionId: string, entry: MessageEntry, logEpoch: string) =>
    `id: ${logEpoch}.${entry.n}\nevent: message\ndata: {"sessionId":"${sessionId}","message":${entry.json}}\n\n`;

  function writeMemories(agentId: string, cursor: string): void {
    const text = frame('memories', { agentId, cursor });
    for (const stream of streams) {
      memoriesOut++;
      write(stream, text);
    }
  }

  /** Writes `kept` to the channel's streams with this instance's own ids (no shared log, or it failed). */
  function writeLocally(channelId: string, kept: Kept): void {
    for (const stream of listening.get(channelId) ?? []) {
      eventsOut++;
      write(stream, messageFrame(stream.sessions.get(channelId)!, kept));
    }
  }

  function writeEntry(stream: Stream, entry: MessageEntry, logEpoch: string): void {
    // A new epoch (Redis came back empty) numbers from 1 again.
    if (stream.lastEpoch !== logEpoch) {
      stream.lastEpoch = logEpoch;
      stream.lastSent = 0;
    }
    if (entry.n <= stream.lastSent) return;
    stream.lastSent = entry.n;
    eventsOut++;
    write(stream, entryFrame(stream.sessions.get(entry.channelId)!, entry, logEpoch));
  }

  /** Hands entries read from the log to the streams that listen to their channels. */
  function deliver(entries: LogEntry[], last: number): void {
    if (!cluster) return;
    // Past what failed the check too: it is not read again.
    cluster.n = Math.max(cluster.n, last);
    for (const entry of entries) {
      cluster.n = Math.max(cluster.n, entry.n);
      if (entry.kind === 'memories') {
        writeMemories(entry.agentId, entry.cursor);
        continue;
      }
      unconfirmed.delete(`${entry.channelId}:${entry.messageId}`);
      for (const stream of listening.get(entry.channelId) ?? []) {
        if (stream.held) stream.held.push(entry);
        else writeEntry(stream, entry, cluster.epoch);
      }
    }
  }

  /**
   * The log failed or Redis went down: events are numbered here again. What was heard and
   * appended but not yet read back is written now (a browser keeps a message once, by its id),
   * and nothing heard before can be vouched for in the log.
   */
  function leaveLog(): void {
    if (!following) return;
    following = false;
    coveredFrom.clear();
    // Redis may come back empty: announce everything again then.
    announced.clear();
    for (const { channelId, kept } of unconfirmed.values()) writeLocally(channelId, kept);
    unconfirmed.clear();
  }

  /** The log's epoch is not the one followed (Redis lost its data): follow the new one from its start. */
  function newEpoch(logEpoch: string): void {
    if (cluster?.epoch === logEpoch) return;
    cluster = { epoch: logEpoch, n: 0 };
    coveredFrom.clear();
    announced.clear();
  }

  /** Notes from which log number this instance has heard all of `channelId` (after a join). */
  async function cover(channelId: string): Promise<void> {
    coveredFrom.delete(channelId);
    if (!shared || !following) return;
    const position = await shared.log.position();
    if (!position || !following || !upstream.isJoined(channelId) || position.epoch !== cluster?.epoch) return;
    coveredFrom.set(channelId, position.n);
  }

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref?.();
    });

  /** Reads the log as it grows and hands its entries on; falls back to local ids while it cannot. */
  async function follow(): Promise<void> {
    if (!shared) return;
    const blockMs = options.followBlockMs ?? 5_000;
    while (!closed) {
      if (shared.state() !== 'up') {
        leaveLog();
        await sleep(250);
        continue;
      }
      if (!following) {
        const position = await shared.log.position();
        if (!position) {
          await sleep(1_000);
          continue;
        }
        // Back on the same log: read on from where this instance stopped (what came meanwhile is given now); else from the new one's start.
        if (cluster) newEpoch(position.epoch);
        else cluster = { epoch: position.epoch, n: position.n };
        // Events go through the log only once it can be read back (its own connection may still be coming up).
        const caughtUp = await shared.log.follow(cluster.n, 0);
        if (!caughtUp) {
          await sleep(250);
          continue;
        }
        following = true;
        deliver(caughtUp.entries, caughtUp.last);
        for (const channelId of listening.keys()) if (upstream.isJoined(channelId)) void cover(channelId);
      }
      const from = cluster!;
      const read = await shared.log.follow(from.n, blockMs);
      if (closed) return;
      if (read === undefined) {
        leaveLog();
        await sleep(1_000);
        continue;
      }
      if (cluster === from) deliver(read.entries, read.last);
    }
  }

  /** Announces the channels listened to here and joins every channel listened to in the cluster. */
  async function joinCluster(): Promise<void> {
    if (!shared || !following) return;
    const at = now();
    const due = [...listening.keys()].filter((channelId) => (announced.get(channelId) ?? 0) - at < ANNOUNCE_MS - ANNOUNCE_RENEW_MS);
    for (const channelId of due) announced.set(channelId, at + ANNOUNCE_MS);
    await shared.log.announce(due, at + ANNOUNCE_MS);
    for (const [channelId, until] of announced) if (until <= at) announced.delete(channelId);
    const channels = await shared.log.channels(at);
    if (!channels || closed) return;
    const wanted = new Set(channels.map((channelId) => channelId.toLowerCase()));
    for (const channelId of wanted) if (!clusterJoins.has(channelId)) clusterJoins.set(channelId, upstream.subscribe(channelId));
    for (const [channelId, release] of clusterJoins) {
      if (wanted.has(channelId)) continue;
      release();
      clusterJoins.delete(channelId);
    }
  }
  const joinTimer = shared ? setInterval(() => void joinCluster(), options.clusterJoinEveryMs ?? 2_000) : undefined;
  joinTimer?.unref?.();
  // A message heard and appended that the log has not given back within 1.5 s is written here (a stuck read).
  const confirmTimer = shared
    ? setInterval(() => {
        const old = now() - UNCONFIRMED_MS;
        for (const [key, { channelId, kept, at }] of unconfirmed) {
          if (at >= old) continue;
          unconfirmed.delete(key);
          writeLocally(channelId, kept);
        }
      }, UNCONFIRMED_MS / 3)
    : undefined;
  confirmTimer?.unref?.();

  /** Drops what is past the window or the count; what is dropped can no longer be replayed. */
  function prune(log: ChannelLog): void {
    const oldest = now() - keepMs;
    let drop = Math.max(0, log.events.length - keepEvents);
    while (drop < log.events.length && log.events[drop]!.at < oldest) drop++;
    if (drop === 0) return;
    log.completeFrom = Math.max(log.completeFrom, log.events[drop - 1]!.seq);
    log.events.splice(0, drop);
  }

  function sweep(): void {
    for (const [channelId, log] of logs) {
      prune(log);
      if (!listening.has(channelId) && log.events.length === 0 && !upstream.isJoined(channelId)) logs.delete(channelId);
    }
  }

  const disposers = [
    upstream.onJoined((channelId) => {
      void cover(channelId);
      const log = logs.get(channelId);
      if (!log) {
        logs.set(channelId, { events: [], completeFrom: seq });
        return;
      }
      // Joined again (after a reconnect): what was said in between was not heard.
      log.completeFrom = seq;
      for (const stream of listening.get(channelId) ?? []) {
        resets++;
        write(stream, frame('reset', { sessionIds: [stream.sessions.get(channelId)!] }));
      }
    }),
    upstream.onMessage((channelId, message: PushedMessage) => {
      const log = logs.get(channelId);
      if (!log) return;
      seq++;
      eventsIn++;
      const kept: Kept = { seq, at: now(), json: JSON.stringify(message) };
      log.events.push(kept);
      prune(log);
      if (!shared || !following) {
        writeLocally(channelId, kept);
        return;
      }
      // Through the log: the streams here get it when it is read back, in the log's order, with the cluster's id.
      const key = `${channelId}:${message.id}`;
      unconfirmed.set(key, { channelId, kept, at: kept.at });
      void shared.log.append(channelId, message.id, kept.json).then((position) => {
        if (position && position.epoch === cluster?.epoch) return;
        if (position) newEpoch(position.epoch);
        else leaveLog();
        const pending = unconfirmed.get(key);
        if (!pending) return;
        unconfirmed.delete(key);
        writeLocally(channelId, pending.kept);
      });
    }),
    upstream.onState((state) => {
      // Down: messages may be said that no one here hears; up again, each channel is covered from its join.
      if (state !== 'up') coveredFrom.clear();
      for (const stream of streams) write(stream, frame('upstream', { state }));
    }),
  ];

  void follow();

  /** The session ids that cannot be replayed from `lastEventId`, and the events to replay, in order. */
  function replayFrom(lastEventId: string | undefined, sessions: Map<string, string>): { reset: string[]; replay: [string, Kept][] } {
    if (lastEventId === undefined) return { reset: [], replay: [] };
    const [, idEpoch, idSeq] = EVENT_ID.exec(lastEventId)!;
    const since = Number(idSeq);
    const reset: string[] = [];
    const replay: [string, Kept][] = [];
    for (const [channelId, sessionId] of sessions) {
      const log = logs.get(channelId);
      if (log) prune(log);
      if (idEpoch !== epoch || since > seq || !log || since < log.completeFrom) {
        reset.push(sessionId);
        continue;
      }
      for (const kept of log.events) if (kept.seq > since) replay.push([sessionId, kept]);
    }
    replay.sort((a, b) => a[1].seq - b[1].seq);
    return { reset, replay };
  }

  /**
   * Opens a stream on the shared log: the hello, then what the browser missed since its last
   * id (from the log, for each channel this instance has heard throughout since then; a
   * `reset` for the others), then what comes. Entries read while the replay is fetched are held
   * and written after it, each once.
   */
  function openOnLog(stream: Stream, lastEventId: string | undefined, logEpoch: string, at: number): void {
    const match = lastEventId === undefined ? undefined : EVENT_ID.exec(lastEventId);
    stream.lastEpoch = logEpoch;
    if (!match || match[1] !== logEpoch) {
      stream.lastSent = at;
      write(stream, frame('hello', { epoch: logEpoch, upstream: upstream.state() }, `${logEpoch}.${at}`));
      if (match) tellReset(stream, [...stream.sessions.values()]);
      return;
    }
    const since = Number(match[2]);
    stream.lastSent = since;
    write(stream, frame('hello', { epoch: logEpoch, upstream: upstream.state() }, lastEventId));
    // Heard throughout since the browser's last id: joined now, and since a point of the log at or before it.
    const covered = new Set(
      [...stream.sessions.keys()].filter((channelId) => upstream.isJoined(channelId) && (coveredFrom.get(channelId) ?? Infinity) <= since),
    );
    const uncovered = [...stream.sessions].filter(([channelId]) => !covered.has(channelId)).map(([, sessionId]) => sessionId);
    if (uncovered.length > 0) tellReset(stream, uncovered);
    if (covered.size === 0) return;
    stream.held = [];
    void shared!.log.since(since, MAX_REPLAY).then((range) => {
      const held = stream.held ?? [];
      stream.held = undefined;
      if (!range?.entries || range.epoch !== logEpoch || range.n < since) {
        tellReset(
          stream,
          [...covered].map((channelId) => stream.sessions.get(channelId)!),
        );
      } else {
        replayed++;
        // Notices are not replayed: a browser that comes back syncs anyway.
        for (const entry of range.entries) if (entry.kind === 'message' && covered.has(entry.channelId)) writeEntry(stream, entry, logEpoch);
      }
      for (const entry of held) writeEntry(stream, entry, logEpoch);
    });
  }

  function tellReset(stream: Stream, sessionIds: string[]): void {
    resets += sessionIds.length;
    write(stream, frame('reset', { sessionIds }));
  }

  function open(res: ServerResponse, query: PushQuery, client: string): void {
    const stream: Stream = { res, sessions: new Map(query.sessions.map((session) => [session.channelId, session.sessionId])), lastSent: 0 };
    perClient.set(client, (perClient.get(client) ?? 0) + 1);
    streams.add(stream);
    for (const channelId of stream.sessions.keys()) {
      const listeners = listening.get(channelId);
      if (listeners) listeners.add(stream);
      else listening.set(channelId, new Set([stream]));
    }
    const onLog = following && cluster ? { ...cluster } : undefined;
    // Replays are worked out before listening: a join's first events are then new ones.
    const { reset, replay } = onLog ? { reset: [], replay: [] } : replayFrom(query.lastEventId, stream.sessions);
    const releases = [...stream.sessions.keys()].map((channelId) => upstream.subscribe(channelId));
    res.on('close', () => {
      streams.delete(stream);
      for (const channelId of stream.sessions.keys()) {
        const listeners = listening.get(channelId);
        listeners?.delete(stream);
        if (listeners?.size === 0) listening.delete(channelId);
      }
      const count = (perClient.get(client) ?? 1) - 1;
      if (count > 0) perClient.set(client, count);
      else perClient.delete(client);
      for (const release of releases) release();
      if (streams.size === 0) {
        clearInterval(keepAlive);
        keepAlive = undefined;
      }
    });
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      // nginx and others buffer answers unless told not to; a buffered event is a late one.
      'X-Accel-Buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    write(stream, 'retry: 1000\n');
    if (onLog) {
      openOnLog(stream, query.lastEventId, onLog.epoch, onLog.n);
    } else {
      write(stream, frame('hello', { epoch, upstream: upstream.state() }, position()));
      if (reset.length > 0) tellReset(stream, reset);
      if (query.lastEventId !== undefined && reset.length < stream.sessions.size) replayed++;
      for (const [sessionId, kept] of replay) {
        eventsOut++;
        write(stream, messageFrame(sessionId, kept));
      }
    }
    keepAlive ??= setInterval(() => {
      sweep();
      for (const open of streams) write(open, ': keep-alive\n\n');
    }, keepAliveMs);
  }

  return {
    serve(req, res, query, client) {
      if (!query.sessions.every((session) => isPushToken(options.key, session.sessionId, session.channelId, session.token))) {
        sendError(res, 403, 'PUSH_FORBIDDEN', 'A push token does not match its session: only the browser that made a session may listen to it.');
        return;
      }
      if ((perClient.get(client) ?? 0) >= options.maxStreamsPerClient) {
        sendError(
          res,
          429,
          'TOO_MANY_CONNECTIONS',
          `Too many open push streams from this address: at most ${options.maxStreamsPerClient}. Purl waits ${RETRY_AFTER_S} s and goes on by itself.`,
          { 'Retry-After': String(RETRY_AFTER_S) },
        );
        return;
      }
      if (req.destroyed) return;
      open(res, query, client);
    },
    memoriesChanged(agentId, cursor) {
      if (!shared || !following) {
        writeMemories(agentId, cursor);
        return;
      }
      // Through the log: every instance's streams hear it (the agent's syncs reach one instance, its browsers' streams any).
      void shared.log.notice(agentId, cursor).then((position) => {
        if (!position) writeMemories(agentId, cursor);
      });
    },
    stats() {
      const upstreamStats = upstream.stats();
      return {
        upstream: { state: upstreamStats.state, since: upstreamStats.since },
        channels: upstreamStats.channels,
        streams: streams.size,
        eventsIn,
        eventsOut,
        memoriesOut,
        dropped: upstreamStats.dropped,
        replayed,
        resets,
        ...(shared
          ? {
              log: {
                mode: following ? ('shared' as const) : ('local' as const),
                ...(cluster ? { epoch: cluster.epoch, n: cluster.n } : {}),
                clusterChannels: clusterJoins.size,
                coveredChannels: [...coveredFrom.keys()].filter((channelId) => upstream.isJoined(channelId)).length,
              },
            }
          : {}),
      };
    },
    close() {
      closed = true;
      for (const dispose of disposers) dispose();
      clearInterval(keepAlive);
      clearInterval(joinTimer);
      clearInterval(confirmTimer);
      for (const release of clusterJoins.values()) release();
      for (const stream of streams) stream.res.end();
      upstream.close();
    },
  };
}
