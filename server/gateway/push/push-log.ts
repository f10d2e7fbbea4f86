/**
 * The push log: where the messages heard upstream get their ids, what a returning browser
 * is replayed, and how they reach the streams. One interface, two implementations, chosen
 * once when the gateway is wired:
 * - `createLocalPushLog` (here): this gateway numbers and keeps its own events (the replay
 *   log, server/gateway/push/replay-log.ts) and writes them to its streams;
 * - `clusterPushLog` (server/gateway/redis/cluster-push-log.ts): the cluster's log on Redis
 *   (docs/cluster.md, "Push across instances"), falling back to the local one while Redis is away.
 */
import type { PushedMessage, UpstreamSocket, UpstreamState } from '../upstream/upstream-socket';
import type { Clock } from '../../../src/shared/clock';
import type { PushEvents } from './push-events';
import type { KeptEvent, ReplayLog } from './replay-log';
import type { Listeners, PushStream } from './streams';

/** The push log's part of /health (a cluster's log only). */
export interface PushLogStats {
  /** Whether events go through the cluster's log now (`shared`) or are kept here (`local`, Redis down). */
  mode: 'shared' | 'local';
  epoch?: string;
  n?: number;
  /** The cluster's channels this instance listens to upstream. */
  clusterChannels: number;
  /** The channels this instance has heard throughout since a known point of the log: the ones it can replay. */
  coveredChannels: number;
}

export interface PushLog {
  /** A message heard on a channel (dropped when the channel was never joined). */
  heard(channelId: string, message: PushedMessage): void;
  /** ElizaOS confirmed a join of the channel (again, after a reconnect). */
  joined(channelId: string): void;
  upstreamChanged(state: UpstreamState): void;
  /** An agent's memories changed: every stream hears it. */
  memoriesChanged(agentId: string, cursor: string): void;
  /**
   * A stream opens. What it is told first (hello, resets, what it missed) is worked out now,
   * before its channels are listened to (a join's first events are then new ones); the
   * returned function writes it, once the stream's head is out.
   */
  open(stream: PushStream, lastEventId: string | undefined): () => void;
  /** Drops what is past the replay window (the keep-alive's beat). */
  sweep(): void;
  stats(): PushLogStats | undefined;
  close(): void;
}

/** What the push route hands the log it is wired with. */
export interface PushLogParts {
  upstream: Pick<UpstreamSocket, 'subscribe' | 'isJoined' | 'state'>;
  streams: Listeners;
  events: PushEvents;
  /** This gateway's own log: the one used when no other is wired, and a cluster's fallback. */
  local: LocalPushLog;
  clock: Clock;
}

/** Makes the push log from the route's parts; given to createPush once, at wiring. */
export type PushLogFactory = (parts: PushLogParts) => PushLog;

/** The local log, with the two steps of `heard` apart for a log that keeps here and may write elsewhere. */
export interface LocalPushLog extends PushLog {
  /** Keeps a heard message for replay (and counts it); undefined for a channel never joined. */
  keep(channelId: string, message: PushedMessage): KeptEvent | undefined;
  /** Writes a kept message to the channel's streams with this gateway's own ids. */
  write(channelId: string, kept: KeptEvent): void;
}

export interface LocalPushLogOptions {
  replay: ReplayLog;
  streams: Listeners;
  events: PushEvents;
  upstream: Pick<UpstreamSocket, 'isJoined' | 'state'>;
}

export function createLocalPushLog({ replay, streams, events, upstream }: LocalPushLogOptions): LocalPushLog {
  const sessionOf = (stream: PushStream, channelId: string) => stream.sessions.get(channelId)!;
  const log: LocalPushLog = {
    keep(channelId, message) {
      const kept = replay.append(channelId, JSON.stringify(message));
      if (kept) events.counts.eventsIn++;
      return kept;
    },
    write(channelId, kept) {
      for (const stream of streams.of(channelId)) events.message(stream, replay.idOf(kept), sessionOf(stream, channelId), kept.json);
    },
    heard(channelId, message) {
      const kept = log.keep(channelId, message);
      if (kept) log.write(channelId, kept);
    },
    joined(channelId) {
      // Joined again (after a reconnect): what was said in between was not heard.
      if (replay.join(channelId) === 'again') for (const stream of streams.of(channelId)) events.reset(stream, [sessionOf(stream, channelId)]);
    },
    upstreamChanged() {},
    memoriesChanged(agentId, cursor) {
      events.memories(streams.all(), agentId, cursor);
    },
    open(stream, lastEventId) {
      const { reset, events: missed } = replay.replay(lastEventId, stream.sessions);
      return () => {
        events.hello(stream, replay.epoch, upstream.state(), replay.position);
        if (reset.length > 0) events.reset(stream, reset);
        if (lastEventId !== undefined && reset.length < stream.sessions.size) events.counts.replayed++;
        for (const { sessionId, event } of missed) events.message(stream, replay.idOf(event), sessionId, event.json);
      };
    },
    sweep() {
      replay.sweep((channelId) => streams.isListened(channelId) || upstream.isJoined(channelId));
    },
    stats: () => undefined,
    close() {},
  };
  return log;
}
