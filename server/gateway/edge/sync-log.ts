/**
 * The sync route's state as data (server/gateway/edge/sync.ts): the agent list as last read,
 * and per agent a log of its memories — each with the sequence number of the read that last
 * added or changed it, a tombstone for each that went missing — with the pure rules over it:
 * applying a read, the cursors it can answer with a delta, the window of the next read, the
 * bound in bytes, and the answer for a cursor. Time is passed in; no I/O.
 */
import { isRecord } from '../../../src/shared/ids';

/** Tombstones kept per agent; a cursor older than the oldest one dropped gets a reset. */
export const MAX_TOMBSTONES = 10_000;

interface Logged {
  json: string;
  seq: number;
}

export interface AgentLog {
  /** The edge answer last applied (its ETag): the same answer again changes nothing. */
  sourceEtag: string;
  entries: Map<string, Logged>;
  /** Deleted ids by sequence number, oldest first. */
  tombstones: Map<string, number>;
  /** Cursors below this cannot be answered with a delta. */
  horizon: number;
  bytes: number;
  usedAt: number;
  /** When the kept copy applied last was read (the edge's storedAt), epoch ms. */
  readAt: number;
  /** When a message was last heard on one of the agent's channels, epoch ms. */
  dueAt?: number;
  /** The window (a slot of the memories' window, counted from epoch 0) whose read went upstream for a mark. */
  forcedSlot?: number;
}

export interface AgentList {
  sourceEtag: string;
  json: string;
  ids: Set<string>;
  seq: number;
}

export interface SyncState {
  /** This gateway's epoch: a cursor of another names nothing here. */
  readonly epoch: string;
  /** The sequence number of the latest change. */
  seq: number;
  agents?: AgentList;
  readonly logs: Map<string, AgentLog>;
}

/** An edge answer to apply: its ETag, when it was read, and its list (parsed only when it is news). */
export interface SyncSource {
  etag: string;
  storedAt: number;
  list(): unknown[];
}

export const newSyncState = (epoch: string): SyncState => ({ epoch, seq: 0, logs: new Map() });

/** The cursor the state stands at. */
export const cursorOf = (state: SyncState): string => `${state.epoch}.${state.seq}`;

const idOf = (item: unknown): string | undefined => (isRecord(item) && typeof item['id'] === 'string' ? item['id'] : undefined);

/** The list under `data.<key>` of an answer the edge already checked. */
export function listUnder(body: unknown, key: string): unknown[] {
  const data = isRecord(body) ? body['data'] : undefined;
  const list = isRecord(data) ? data[key] : undefined;
  return Array.isArray(list) ? list : [];
}

/** Applies the edge's latest agent list: a new sequence number only when the list changed. */
export function noteAgents(state: SyncState, source: SyncSource): void {
  if (state.agents?.sourceEtag === source.etag) return;
  const list = source.list();
  const json = JSON.stringify(list);
  if (state.agents?.json === json) {
    state.agents.sourceEtag = source.etag;
    return;
  }
  state.seq += 1;
  const ids = list
    .map(idOf)
    .filter((id): id is string => id !== undefined)
    .map((id) => id.toLowerCase());
  state.agents = { sourceEtag: source.etag, json, ids: new Set(ids), seq: state.seq };
}

/** Whether `agentId` is in the agent list as last read (only those are read upstream). */
export const isListed = (state: SyncState, agentId: string): boolean => state.agents?.ids.has(agentId) ?? false;

/** Applies one memories list to `log` under the sequence number `next`; says whether anything changed. */
function applyMemories(log: AgentLog, list: unknown[], next: number): boolean {
  let changed = false;
  const seen = new Set<string>();
  for (const item of list) {
    const id = idOf(item);
    if (id === undefined || seen.has(id)) continue;
    seen.add(id);
    const json = JSON.stringify(item);
    const old = log.entries.get(id);
    if (old?.json === json) continue;
    changed = true;
    log.bytes += json.length + id.length - (old ? old.json.length + id.length : 0);
    log.entries.set(id, { json, seq: next });
    if (log.tombstones.delete(id)) log.bytes -= id.length;
  }
  for (const [id, old] of log.entries) {
    if (seen.has(id)) continue;
    changed = true;
    log.entries.delete(id);
    log.bytes -= old.json.length;
    log.tombstones.set(id, next);
  }
  return changed;
}

/** Drops the oldest tombstones past `max`; cursors from before them can no longer get a delta. */
export function dropOldTombstones(log: AgentLog, max = MAX_TOMBSTONES): void {
  for (const [id, at] of log.tombstones) {
    if (log.tombstones.size <= max) break;
    log.tombstones.delete(id);
    log.bytes -= id.length;
    log.horizon = Math.max(log.horizon, at);
  }
}

/**
 * Applies the edge's latest memories answer to the agent's log at `at`: one sequence number
 * for all it changed. `isNews`: an existing log changed (a new log is no news: every
 * browser's cursor resets against it anyway).
 */
export function noteMemories(
  state: SyncState,
  agentId: string,
  source: SyncSource,
  at: number,
  maxTombstones = MAX_TOMBSTONES,
): { log: AgentLog; isNews: boolean } {
  const known = state.logs.get(agentId);
  if (known?.sourceEtag === source.etag) {
    known.usedAt = at;
    known.readAt = Math.max(known.readAt, source.storedAt);
    return { log: known, isNews: false };
  }
  const next = state.seq + 1;
  // Whatever a browser holds from before this log existed is unknown to it: those cursors reset.
  const log: AgentLog = known ?? {
    sourceEtag: source.etag,
    entries: new Map(),
    tombstones: new Map(),
    horizon: next,
    bytes: 0,
    usedAt: at,
    readAt: source.storedAt,
  };
  state.logs.set(agentId, log);
  log.sourceEtag = source.etag;
  log.usedAt = at;
  log.readAt = Math.max(log.readAt, source.storedAt);
  const changed = applyMemories(log, source.list(), next);
  dropOldTombstones(log, maxTombstones);
  if (changed || log.horizon === next) state.seq = next;
  return { log, isNews: changed && known !== undefined };
}

/** What all the logs hold, bytes (a few agents: summed when asked). */
export const logBytes = (state: SyncState): number => [...state.logs.values()].reduce((sum, log) => sum + log.bytes, 0);

/** Drops the least recently used logs (never `keepId`'s) until the logs fit in `maxBytes`. */
export function evictLogs(state: SyncState, keepId: string, maxBytes: number): void {
  let bytes = logBytes(state);
  if (bytes <= maxBytes) return;
  const byUse = [...state.logs.entries()].filter(([id]) => id !== keepId).sort(([, a], [, b]) => a.usedAt - b.usedAt);
  for (const [id, log] of byUse) {
    if (bytes <= maxBytes) break;
    state.logs.delete(id);
    bytes -= log.bytes;
  }
}

/** A message was heard at `at` on a channel of `agentId`: its memories may have changed since its kept copy was read. */
export function markDue(state: SyncState, agentId: string, at: number): void {
  const log = state.logs.get(agentId.toLowerCase());
  if (log) log.dueAt = at;
}

/**
 * The window for a read at `at` of the memories `log` holds: `ttlMs` (the edge's), or 0 (read
 * upstream now) when a message was heard on the agent's channels after its kept copy was
 * read. Windows are fixed slots of `ttlMs`, and a mark sends a read upstream only in a slot
 * no upstream read has landed in yet, once: so the marks never make more than one upstream
 * read of an agent's memories per slot, whatever is heard.
 */
export function memoriesWindow(log: AgentLog | undefined, ttlMs: number, at: number): number {
  if (ttlMs <= 0 || log?.dueAt === undefined || log.readAt > log.dueAt) return ttlMs;
  const slot = Math.floor(at / ttlMs);
  if (Math.floor(log.readAt / ttlMs) >= slot || log.forcedSlot === slot) return ttlMs;
  log.forcedSlot = slot;
  return 0;
}

/** The cursor's form: this gateway's epoch, a dot, a sequence number. */
export const CURSOR = /^([0-9a-f]{12})\.(0|[1-9][0-9]{0,14})$/;

/**
 * Where a browser's cursor (checked for form) stands in `state`: a sequence number, or
 * undefined (reset: none given, or another gateway's), or `ahead` (never given out here).
 */
export function sinceOf(state: SyncState, cursor: string | undefined): number | undefined | 'ahead' {
  const [, epoch, seq] = cursor === undefined ? [] : (CURSOR.exec(cursor) ?? []);
  if (epoch !== state.epoch) return undefined;
  const since = Number(seq);
  return since > state.seq ? 'ahead' : since;
}

/** A cursor older than what the log still knows (from before it existed, or past its tombstones) cannot get a delta. */
export const deltaSince = (since: number | undefined, log: AgentLog | undefined): number | undefined =>
  since !== undefined && log && since < log.horizon ? undefined : since;

/** The answer's shared part for a browser at `since` (undefined: reset), as JSON text. */
export function syncJson(state: SyncState, log: AgentLog | undefined, since: number | undefined): string {
  const isReset = since === undefined;
  const agentsJson = isReset || (state.agents && state.agents.seq > since) ? (state.agents?.json ?? '[]') : 'null';
  let memories = 'null';
  const removed: string[] = [];
  if (log) {
    const parts: string[] = [];
    for (const logged of log.entries.values()) if (isReset || logged.seq > since) parts.push(logged.json);
    memories = `[${parts.join(',')}]`;
    if (!isReset) for (const [id, at] of log.tombstones) if (at > since) removed.push(id);
  }
  return `{"cursor":${JSON.stringify(cursorOf(state))},"reset":${isReset},"agents":${agentsJson},"memories":${memories},"removed":${JSON.stringify(removed)}}`;
}

/** What the logs hold, for operators. */
export function logStats(state: SyncState): { agents: number; memories: number; tombstones: number; bytes: number } {
  let memories = 0;
  let tombstones = 0;
  for (const log of state.logs.values()) {
    memories += log.entries.size;
    tombstones += log.tombstones.size;
  }
  return { agents: state.logs.size, memories, tombstones, bytes: logBytes(state) };
}

/**
 * The answers built for the state's current sequence number, by agent, cursor and whether the
 * agent is listed (most browsers are at the same few cursors); all dropped when it moves on.
 */
export class ReadyAnswers {
  #answers = new Map<string, Buffer>();
  #seq = -1;

  constructor(readonly max: number) {}

  /** The answer for `key` at `seq`, built by `build` when not ready yet. */
  get(seq: number, key: string, build: () => string): Buffer {
    if (this.#seq !== seq) {
      this.#answers = new Map();
      this.#seq = seq;
    }
    const known = this.#answers.get(key);
    if (known) return known;
    const body = Buffer.from(build());
    if (this.#answers.size >= this.max) this.#answers.clear();
    this.#answers.set(key, body);
    return body;
  }
}
