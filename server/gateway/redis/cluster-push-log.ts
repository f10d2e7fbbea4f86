/**
 * The push log of a cluster (docs/cluster.md, "Push across instances"): the push log
 * interface (server/gateway/push/push-log.ts) over the cluster's log on Redis
 * (server/gateway/redis/push-log.ts). With it, events carry the cluster's ids, reach this
 * instance's streams whichever instance heard them, and are replayed to a browser that comes
 * from another instance. While Redis is down or the log fails, the gateway numbers and keeps
 * its events on its own (the local log it is given), as without it.
 *
 * A message heard here is kept locally and appended; the streams here get it when the log
 * is read back, in the log's order, with the cluster's id. The state (position, coverage,
 * announcements, unconfirmed messages) is server/gateway/redis/cluster-push-state.ts; this
 * file holds its I/O: the follower, the announcements, the replays from the log.
 */
import { every, sleep } from '../clock';
import type { PushLog, PushLogFactory, PushLogParts } from '../push/push-log';
import type { PushStream } from '../push/streams';
import { ClusterView, isUnsent, openOnLog, type PendingMessage, replayFromRange, type StreamMark, UNCONFIRMED_MS } from './cluster-push-state';
import type { LogEntry, LogPosition, MessageEntry, SharedPushLog } from './push-log';
import type { RedisState } from './redis';

/** Entries a replay from the log may give at most; further behind, the browser reads its chat once. */
const MAX_REPLAY = 1_000;

export interface ClusterPushLogOptions {
  /** The log on Redis (createSharedPushLog). */
  log: SharedPushLog;
  state: () => RedisState;
  /** How long a wait for the log's next entries lasts before it is asked again, ms (default 5 s). */
  followBlockMs?: number;
  /** How often the cluster's channels are announced and read, ms (default 2 s). */
  joinEveryMs?: number;
}

/** The push log on the cluster's Redis, for createPush's `log`. */
export function clusterPushLog(options: ClusterPushLogOptions): PushLogFactory {
  return (parts) => createClusterPushLog(options, parts);
}

/** What the parts below share: the route's parts, the log on Redis, and what this instance knows of it. */
interface Cluster extends PushLogParts {
  shared: SharedPushLog;
  view: ClusterView;
  /** Stream → the last log entry written to it. */
  marks: WeakMap<PushStream, StreamMark>;
}

const markOf = (cluster: Cluster, stream: PushStream): StreamMark => cluster.marks.get(stream) ?? cluster.marks.set(stream, { lastSent: 0 }).get(stream)!;

/** Writes what was heard here and not read back from the log, with this instance's own ids. */
function writeLocally(cluster: Cluster, pending: PendingMessage[]): void {
  for (const { channelId, kept } of pending) cluster.local.write(channelId, kept);
}

/** The log failed or Redis went down: events are numbered here again (see ClusterView.leave). */
const leave = (cluster: Cluster) => writeLocally(cluster, cluster.view.leave());

/** Writes a log entry to a stream unless it was written there already. */
function writeEntry(cluster: Cluster, stream: PushStream, entry: MessageEntry, epoch: string): void {
  if (isUnsent(markOf(cluster, stream), epoch, entry.n)) {
    cluster.events.message(stream, `${epoch}.${entry.n}`, stream.sessions.get(entry.channelId)!, entry.json);
  }
}

/** Hands entries read from the log to the streams that listen to their channels (held while a stream's replay is read). */
function deliver(cluster: Cluster, entries: LogEntry[], last: number): void {
  const { view } = cluster;
  const position = view.position;
  if (!position) return;
  // Past what failed the check too: it is not read again.
  view.advance(last);
  for (const entry of entries) {
    view.advance(entry.n);
    if (entry.kind === 'memories') {
      cluster.local.memoriesChanged(entry.agentId, entry.cursor);
      continue;
    }
    view.unconfirmed.take(entry.channelId, entry.messageId);
    for (const stream of cluster.streams.of(entry.channelId)) {
      const mark = markOf(cluster, stream);
      if (mark.held) mark.held.push(entry);
      else writeEntry(cluster, stream, entry, position.epoch);
    }
  }
}

/** Notes from which log number this instance has heard all of `channelId` (after a join). */
async function cover(cluster: Cluster, channelId: string): Promise<void> {
  const { view, upstream } = cluster;
  view.coverage.delete(channelId);
  if (!view.following) return;
  const position = await cluster.shared.position();
  if (!position || !view.following || !upstream.isJoined(channelId) || position.epoch !== view.position?.epoch) return;
  view.coverage.set(channelId, position.n);
}

/** Gets back on the log: true once it was read up to now (its own connection may still be coming up). */
async function rejoin(cluster: Cluster): Promise<boolean> {
  const { shared, view, clock } = cluster;
  const position = await shared.position();
  if (!position) {
    await sleep(clock, 1_000);
    return false;
  }
  const caughtUp = await shared.follow(view.resume(position).n, 0);
  if (!caughtUp) {
    await sleep(clock, 250);
    return false;
  }
  view.follow();
  deliver(cluster, caughtUp.entries, caughtUp.last);
  for (const channelId of cluster.streams.channels()) if (cluster.upstream.isJoined(channelId)) void cover(cluster, channelId);
  return true;
}

/** Reads the log as it grows and hands its entries on, until `isClosed`; falls back to local ids while it cannot. */
async function follow(cluster: Cluster, options: ClusterPushLogOptions, isClosed: () => boolean): Promise<void> {
  const { shared, view, clock } = cluster;
  const blockMs = options.followBlockMs ?? 5_000;
  while (!isClosed()) {
    if (options.state() !== 'up') {
      leave(cluster);
      await sleep(clock, 250);
      continue;
    }
    if (!view.following && !(await rejoin(cluster))) continue;
    const from = view.position!;
    const read = await shared.follow(from.n, blockMs);
    if (isClosed()) return;
    if (read === undefined) {
      leave(cluster);
      await sleep(clock, 1_000);
      continue;
    }
    // A new epoch meanwhile: what was read belongs to the old one.
    if (view.position === from) deliver(cluster, read.entries, read.last);
  }
}

/**
 * Announces the channels listened to here and listens upstream to every channel listened to
 * in the cluster (`joins`: channel → its release), so each instance hears every message.
 */
async function joinCluster(cluster: Cluster, joins: Map<string, () => void>, isClosed: () => boolean): Promise<void> {
  const { shared, view, upstream } = cluster;
  if (!view.following) return;
  const at = cluster.clock.now();
  const due = view.announcements.due(cluster.streams.channels(), at);
  await shared.announce(due.channelIds, due.until);
  view.announcements.expire(at);
  const channels = await shared.channels(at);
  if (!channels || isClosed()) return;
  const wanted = new Set(channels.map((channelId) => channelId.toLowerCase()));
  for (const channelId of wanted) if (!joins.has(channelId)) joins.set(channelId, upstream.subscribe(channelId));
  for (const [channelId, release] of joins) {
    if (wanted.has(channelId)) continue;
    release();
    joins.delete(channelId);
  }
}

/**
 * Greets a stream opened on the log at `at`: the hello, then what the browser missed since
 * its last id (from the log, for each channel this instance has heard throughout since then;
 * a `reset` for the others), then what comes. Entries read while the replay is fetched are
 * held and written after it, each once.
 */
function greetOnLog(cluster: Cluster, stream: PushStream, lastEventId: string | undefined, at: LogPosition): void {
  const { events, upstream, view } = cluster;
  const isCovered = (channelId: string, since: number) => upstream.isJoined(channelId) && view.coverage.covers(channelId, since);
  const opening = openOnLog(lastEventId, at, stream.sessions, isCovered);
  const mark = opening.mark;
  cluster.marks.set(stream, mark);
  events.hello(stream, at.epoch, upstream.state(), opening.helloId);
  if (opening.reset.length > 0) events.reset(stream, opening.reset);
  if (opening.replay.size === 0) return;
  mark.held = [];
  void cluster.shared.since(opening.since, MAX_REPLAY).then((range) => {
    const held = mark.held ?? [];
    mark.held = undefined;
    const replay = replayFromRange(range, opening, at.epoch);
    if (replay) {
      events.counts.replayed++;
      for (const entry of replay) writeEntry(cluster, stream, entry, at.epoch);
    } else {
      events.reset(
        stream,
        [...opening.replay].map((channelId) => stream.sessions.get(channelId)!),
      );
    }
    for (const entry of held) writeEntry(cluster, stream, entry, at.epoch);
  });
}

function createClusterPushLog(options: ClusterPushLogOptions, parts: PushLogParts): PushLog {
  const cluster: Cluster = { ...parts, shared: options.log, view: new ClusterView(), marks: new WeakMap() };
  const { shared, view, local, upstream } = cluster;
  /** The cluster's channels this instance listens to upstream, with their releases. */
  const joins = new Map<string, () => void>();
  let closed = false;
  const isClosed = () => closed;

  const stopJoining = every(parts.clock, options.joinEveryMs ?? 2_000, () => void joinCluster(cluster, joins, isClosed));
  // A message heard and appended that the log has not given back within 1.5 s is written here (a stuck read).
  const stopConfirming = every(parts.clock, UNCONFIRMED_MS / 3, () => writeLocally(cluster, view.unconfirmed.takeOverdue(parts.clock.now())));
  void follow(cluster, options, isClosed);

  return {
    heard(channelId, message) {
      const kept = local.keep(channelId, message);
      if (!kept) return;
      if (!view.following) {
        local.write(channelId, kept);
        return;
      }
      view.unconfirmed.add(channelId, message.id, kept);
      void shared.append(channelId, message.id, kept.json).then((position) => {
        if (position && position.epoch === view.position?.epoch) return;
        if (position) view.newEpoch(position.epoch);
        else leave(cluster);
        const pending = view.unconfirmed.take(channelId, message.id);
        if (pending) local.write(channelId, pending.kept);
      });
    },
    joined(channelId) {
      void cover(cluster, channelId);
      local.joined(channelId);
    },
    upstreamChanged(state) {
      // Down: messages may be said that no one here hears; up again, each channel is covered from its join.
      if (state !== 'up') view.coverage.clear();
      local.upstreamChanged(state);
    },
    memoriesChanged(agentId, cursor) {
      if (!view.following) {
        local.memoriesChanged(agentId, cursor);
        return;
      }
      // Through the log: every instance's streams hear it (the agent's syncs reach one instance, its browsers' streams any).
      void shared.notice(agentId, cursor).then((position) => {
        if (!position) local.memoriesChanged(agentId, cursor);
      });
    },
    open(stream, lastEventId) {
      const at = view.following && view.position ? { ...view.position } : undefined;
      if (!at) return local.open(stream, lastEventId);
      return () => greetOnLog(cluster, stream, lastEventId, at);
    },
    sweep: () => local.sweep(),
    stats() {
      const position = view.position;
      return {
        mode: view.following ? 'shared' : 'local',
        ...(position ? { epoch: position.epoch, n: position.n } : {}),
        clusterChannels: joins.size,
        coveredChannels: view.coverage.count((channelId) => upstream.isJoined(channelId)),
      };
    },
    close() {
      closed = true;
      stopJoining();
      stopConfirming();
      for (const release of joins.values()) release();
      local.close();
    },
  };
}
