/**
 * The sync route: everything a poll needs in one request, and only what changed.
 *
 *   GET /api/purl/sync[?agentId=<uuid>][&since=<cursor>][&session=<uuid>&limit=<1..100>]
 *   → { cursor, reset, agents: [...] | null, memories: [...] | null, removed: [ids], chat? }
 *
 * The gateway reads the agent list and an agent's memories through the edge (at most once
 * per window for all users together, server/gateway/edge/edge.ts) and keeps, per agent, a log:
 * each memory with the sequence number of the read that last added or changed it, and a
 * tombstone for each memory that went missing. A browser's cursor names the sequence
 * number it has seen, so its answer holds only the memories added or edited since, the
 * ids deleted since, and the agent list only when that changed (CouchDB's `_changes`
 * with `since`, Replicache's pull). `reset: true` means "replace what you keep": the
 * browser had no cursor, or one this gateway cannot answer from — issued before it
 * started (the epoch differs), or older than the oldest tombstone it still keeps.
 * `memories: null` says the agent is not on the server (its memories were not read).
 *
 * An answer whose cursor is the browser's own changes nothing; with the ETag it got last
 * time it is a 304 with no body. A malformed cursor, or one ahead of the gateway's, is a
 * 400 with a sentence. Only agents in the agent list are read upstream, and each through
 * the edge's window, so no query makes the gateway read ElizaOS more often than that.
 * Everything held here is counted; past GATEWAY_CACHE_MAX_BYTES the least recently used
 * agent's log goes (its browsers then get one reset).
 *
 * With `session`, the answer also carries that chat session's latest messages, read from
 * ElizaOS for this browser alone (sessions are per user; the memories stay shared): `chat`
 * is ElizaOS's answer as the chat poll would have had it, checked and cleaned, or
 * `{ "gone": true }` when the server lost the session, or `{ "error": … }` when that read
 * failed: the memories part stands either way. Such an answer is the browser's own: it has
 * no ETag and is never a 304.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkAnswer } from '../../../src/shared/api';
import { EDGE_HEADER } from '../../../src/shared/budget';
import { browserHeaders, DROPPED_ANSWER_HEADERS, isJson } from '../upstream/client';
import type { ChatEdge } from './chat-edge';
import { type Edge, type EdgeOutcome, type KeptAnswer, matchesIfNoneMatch, sendUnkept } from './edge';
import { sendError } from '../door/errors';
import { readUpstreamBudget, writeUpstreamBudget } from '../upstream/rate-limit-headers';
import { parseForBrowser } from '../upstream/strip-secrets';
import type { UpstreamRead } from '../upstream/client';
import type { UpstreamBudget } from '../budget/upstream-budget';

export const SYNC_PATH = '/api/purl/sync';

/** Tombstones kept per agent; a cursor older than the oldest one dropped gets a reset. */
export const MAX_TOMBSTONES = 10_000;
/** Answers kept ready for the cursors browsers send (most are at the same few), per state. */
const MAX_READY_ANSWERS = 256;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CURSOR = /^([0-9a-f]{12})\.(0|[1-9][0-9]{0,14})$/;
const AGENTS_PATH = '/api/agents';
const memoriesPath = (agentId: string) => `/api/agents/${agentId}/memories?tableName=messages&includeEmbedding=false`;

export interface SyncQuery {
  agentId?: string;
  /** The browser's cursor, as sent (checked for form). */
  since?: string;
  /** The open chat's session and how many of its latest messages to bring. */
  chat?: { session: string; limit: number };
}

const SYNC_PARAMETERS = ['agentId', 'since', 'session', 'limit'];
/** What ElizaOS answers for a session it no longer has (sessions live in its memory). */
const SESSION_GONE = new Set([404, 410]);

/**
 * The sync route's query, or a sentence saying what is wrong with it; undefined when the
 * request is not for the sync route at all. Only `agentId` and `since` are accepted, each
 * at most once.
 */
export function matchSyncRoute(method: string, rawUrl: string): { query: SyncQuery } | { problem: string } | undefined {
  const questionMark = rawUrl.indexOf('?');
  const path = questionMark < 0 ? rawUrl : rawUrl.slice(0, questionMark);
  if (path !== SYNC_PATH || method !== 'GET') return undefined;
  return parseSyncQuery(new URLSearchParams(questionMark < 0 ? '' : rawUrl.slice(questionMark + 1)));
}

/** The sync route's query, or a sentence saying what is wrong with it. */
export function parseSyncQuery(params: URLSearchParams): { query: SyncQuery } | { problem: string } {
  const names = [...params.keys()];
  const unknown = names.find((name) => !SYNC_PARAMETERS.includes(name));
  if (unknown !== undefined) return { problem: `The parameter "${unknown}" is not accepted here; only agentId, since, session and limit are.` };
  if (new Set(names).size !== names.length) return { problem: 'Each of agentId, since, session and limit may be given once.' };
  const query: SyncQuery = {};
  const agentId = params.get('agentId');
  if (agentId !== null) {
    if (!UUID.test(agentId)) return { problem: 'The agentId must be a UUID.' };
    query.agentId = agentId.toLowerCase();
  }
  const since = params.get('since');
  if (since !== null) {
    if (!CURSOR.test(since)) return { problem: 'The since parameter must be a cursor this gateway gave out; leave it out to sync from the start.' };
    query.since = since;
  }
  const session = params.get('session');
  const limit = params.get('limit');
  if ((session === null) !== (limit === null)) return { problem: 'The session and limit parameters go together: give both or neither.' };
  if (session !== null && limit !== null) {
    if (!UUID.test(session)) return { problem: 'The session must be a UUID.' };
    if (!/^[1-9][0-9]{0,2}$/.test(limit) || Number(limit) > 100) return { problem: 'The limit must be a whole number from 1 to 100.' };
    query.chat = { session: session.toLowerCase(), limit: Number(limit) };
  }
  return { query };
}

/** What the sync route holds and has done, for operators (`/health` → `edge.sync`). */
export interface SyncStats {
  /** Agents with a log. */
  agents: number;
  memories: number;
  tombstones: number;
  /** What the logs hold, bytes (the memories' JSON and the tombstones' ids). */
  bytes: number;
  deltas: number;
  resets: number;
  notModified: number;
}

export interface SyncOptions {
  edge: Edge;
  /** The memories' window, ms (the edge's: GATEWAY_CACHE_TTL; 0 reads on every request). */
  memoriesTtlMs: number;
  /** The agent list's window, ms: it changes rarely. */
  agentsTtlMs: number;
  /** The most the logs may hold together, bytes. */
  maxBytes: number;
  budget: UpstreamBudget;
  /** Writes where `client` stands with the budget (its share, the tier) on an answer about to go. */
  standing?: (res: ServerResponse, client: string) => void;
  /**
   * One upstream GET for this browser alone (the chat's messages), ended when `signal`
   * aborts; undefined when the upstream's budget keeps such reads back now. Never rejects.
   */
  readOwn(path: string, client: string, signal: AbortSignal): Promise<UpstreamRead> | undefined;
  /** Answers a known session's chat from what the gateway heard, when it can (server/gateway/edge/chat-edge.ts); else told of the upstream read. */
  chatEdge?: Pick<ChatEdge, 'answer' | 'reading'>;
  /** An agent's log advanced: an upstream read found memories added, edited or deleted; the sync stands at `cursor` now. */
  onMemoriesChanged?: (agentId: string, cursor: string) => void;
  now?: () => number;
  /** This gateway's epoch (random per start); tests fix it. */
  epoch?: string;
}

export interface SyncRoute {
  serve(req: IncomingMessage, res: ServerResponse, query: SyncQuery, client: string): void;
  /**
   * The gateway heard a message on a channel of `agentId` (its memories may have changed
   * since its kept copy was read): the next sync read of them goes upstream, unless one
   * already did in this window (see `memoriesWindow`). An agent without a log is ignored.
   */
  markDue(agentId: string): void;
  stats(): SyncStats;
}

/** The chat part of an answer as JSON text, and whether the gateway answered it from what it heard (nothing spent upstream). */
interface ChatPart {
  json: string;
  heard: boolean;
}

interface Logged {
  json: string;
  seq: number;
}

interface AgentLog {
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
  /** The window (a slot of `memoriesTtlMs`, counted from epoch 0) whose read went upstream for a mark. */
  forcedSlot?: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The list under `data.<key>` of an answer the edge already checked. */
function listOf(entry: KeptAnswer, key: string, parsed?: unknown): unknown[] {
  const body: unknown = parsed ?? JSON.parse(entry.body.toString('utf8'));
  const data = isRecord(body) ? body['data'] : undefined;
  const list = isRecord(data) ? data[key] : undefined;
  return Array.isArray(list) ? list : [];
}

const idOf = (item: unknown): string | undefined => (isRecord(item) && typeof item['id'] === 'string' ? item['id'] : undefined);

export function createSyncRoute(options: SyncOptions): SyncRoute {
  const now = options.now ?? Date.now;
  const epoch = options.epoch ?? randomBytes(6).toString('hex');
  const logs = new Map<string, AgentLog>();
  const counts = { deltas: 0, resets: 0, notModified: 0 };
  let seq = 0;
  let agents: { sourceEtag: string; json: string; ids: Set<string>; seq: number } | undefined;
  let ready = new Map<string, Buffer>();
  let readyAt = -1;

  const cursor = () => `${epoch}.${seq}`;

  function noteAgents(entry: KeptAnswer, parsed?: unknown): void {
    if (agents?.sourceEtag === entry.etag) return;
    const list = listOf(entry, 'agents', parsed);
    const json = JSON.stringify(list);
    if (agents?.json === json) {
      agents.sourceEtag = entry.etag;
      return;
    }
    seq += 1;
    agents = {
      sourceEtag: entry.etag,
      json,
      ids: new Set(
        list
          .map(idOf)
          .filter((id): id is string => id !== undefined)
          .map((id) => id.toLowerCase()),
      ),
      seq,
    };
  }

  function dropOldest(log: AgentLog): void {
    for (const [id, at] of log.tombstones) {
      if (log.tombstones.size <= MAX_TOMBSTONES) break;
      log.tombstones.delete(id);
      log.bytes -= id.length;
      log.horizon = Math.max(log.horizon, at);
    }
  }

  /** Applies the edge's latest memories answer to the agent's log: one sequence number for all it changed. */
  function noteMemories(agentId: string, entry: KeptAnswer, parsed?: unknown): AgentLog {
    let log = logs.get(agentId);
    if (log?.sourceEtag === entry.etag) {
      log.usedAt = now();
      log.readAt = Math.max(log.readAt, entry.storedAt);
      return log;
    }
    const next = seq + 1;
    const isNew = !log;
    if (!log) {
      // Whatever a browser holds from before this log existed is unknown to it: those cursors reset.
      log = { sourceEtag: entry.etag, entries: new Map(), tombstones: new Map(), horizon: next, bytes: 0, usedAt: now(), readAt: entry.storedAt };
      logs.set(agentId, log);
    }
    log.sourceEtag = entry.etag;
    log.usedAt = now();
    log.readAt = Math.max(log.readAt, entry.storedAt);
    let changed = false;
    const seen = new Set<string>();
    for (const item of listOf(entry, 'memories', parsed)) {
      const id = idOf(item);
      if (id === undefined || seen.has(id)) continue;
      seen.add(id);
      const json = JSON.stringify(item);
      const old = log.entries.get(id);
      if (old?.json === json) continue;
      changed = true;
      const size = json.length + id.length;
      log.bytes += size - (old ? old.json.length + id.length : 0);
      log.entries.set(id, { json, seq: next });
      if (log.tombstones.delete(id)) {
        log.bytes -= id.length;
      }
    }
    for (const [id, old] of log.entries) {
      if (seen.has(id)) continue;
      changed = true;
      log.entries.delete(id);
      log.bytes -= old.json.length;
      log.tombstones.set(id, next);
    }
    dropOldest(log);
    if (changed || log.horizon === next) seq = next;
    evict(agentId);
    // A new log is no news: every browser's cursor resets against it anyway.
    if (changed && !isNew) options.onMemoriesChanged?.(agentId, cursor());
    return log;
  }

  /**
   * The window for this read of `agentId`'s memories: the edge's, or 0 (read upstream now)
   * when a message was heard on its channels after its kept copy was read. Windows are fixed
   * slots of `memoriesTtlMs`, and a mark sends a read upstream only in a slot no upstream
   * read has landed in yet, once: so the marks never make more than one upstream read of an
   * agent's memories per slot, whatever is heard.
   */
  function memoriesWindow(agentId: string): number {
    const ttl = options.memoriesTtlMs;
    const log = logs.get(agentId);
    if (ttl <= 0 || log?.dueAt === undefined || log.readAt > log.dueAt) return ttl;
    const slot = Math.floor(now() / ttl);
    if (Math.floor(log.readAt / ttl) >= slot || log.forcedSlot === slot) return ttl;
    log.forcedSlot = slot;
    return 0;
  }

  /** What all the logs hold, bytes (a few agents: summed when asked). */
  const totalBytes = () => [...logs.values()].reduce((sum, log) => sum + log.bytes, 0);

  /** Drops the least recently used logs (never `keep`) until the logs fit. */
  function evict(keepId: string): void {
    let bytes = totalBytes();
    if (bytes <= options.maxBytes) return;
    const byUse = [...logs.entries()].filter(([id]) => id !== keepId).sort(([, a], [, b]) => a.usedAt - b.usedAt);
    for (const [id, log] of byUse) {
      if (bytes <= options.maxBytes) break;
      logs.delete(id);
      bytes -= log.bytes;
    }
  }

  /** The answer for a browser at `since` (undefined: reset), built once per state and cursor. */
  function answerFor(agentId: string | undefined, log: AgentLog | undefined, since: number | undefined): Buffer {
    if (readyAt !== seq) {
      ready = new Map();
      readyAt = seq;
    }
    const key = `${agentId ?? ''}|${since ?? 'reset'}|${log ? 'listed' : 'unlisted'}`;
    const known = ready.get(key);
    if (known) return known;
    const isReset = since === undefined;
    const agentsJson = isReset || (agents && agents.seq > since) ? (agents?.json ?? '[]') : 'null';
    let memories = 'null';
    const removed: string[] = [];
    if (log) {
      const parts: string[] = [];
      for (const logged of log.entries.values()) if (isReset || logged.seq > since) parts.push(logged.json);
      memories = `[${parts.join(',')}]`;
      if (!isReset) for (const [id, at] of log.tombstones) if (at > since) removed.push(id);
    }
    const body = Buffer.from(
      `{"cursor":${JSON.stringify(cursor())},"reset":${isReset},"agents":${agentsJson},"memories":${memories},"removed":${JSON.stringify(removed)}}`,
    );
    if (ready.size >= MAX_READY_ANSWERS) ready.clear();
    ready.set(key, body);
    return body;
  }

  /** Sends an edge outcome that is not a kept answer: the failure, or the upstream's own error as it came. */
  function sendFailure(res: ServerResponse, client: string, outcome: Exclude<EdgeOutcome, { kind: 'kept' }>): void {
    if (!res.headersSent) options.standing?.(res, client);
    if (outcome.kind === 'pass' && outcome.status >= 200 && outcome.status < 300) {
      // A 2xx the edge did not keep failed the boundary check: no part of it reaches a browser.
      sendError(res, 502, 'UPSTREAM_BAD_ANSWER', "The agent's server sent something Purl couldn't read. Purl will try again shortly.");
      return;
    }
    sendUnkept(res, outcome, options.budget.last(), now());
  }

  /** The chat part: from what the gateway heard when that is everything (server/gateway/edge/chat-edge.ts), else read upstream. */
  async function readChat(
    chat: { session: string; limit: number },
    client: string,
    signal: AbortSignal,
  ): Promise<ChatPart | { limitedBy: Exclude<EdgeOutcome, { kind: 'kept' }> } | undefined> {
    // What the gateway heard, when that is everything: no upstream read, nothing spent.
    const heard = options.chatEdge?.answer(chat.session, chat.limit);
    if (heard !== undefined) return { json: heard, heard: true };
    const upstream = await readChatUpstream(chat, client, signal);
    return typeof upstream === 'string' ? { json: upstream, heard: false } : upstream;
  }

  /**
   * The chat part of an answer, as JSON text: ElizaOS's answer for the session, checked and
   * cleaned; `{"gone":true}` when the server lost the session; or `{"error":{…}}` when the
   * read failed (down, slow, an error status, an answer refused at the door), which the
   * worker takes as its chat poll's failure while the memories part stands. Undefined
   * when the budget keeps such reads back (the chat poll then asks on its own, and is told
   * when it may).
   */
  async function readChatUpstream(
    chat: { session: string; limit: number },
    client: string,
    signal: AbortSignal,
  ): Promise<string | { limitedBy: Exclude<EdgeOutcome, { kind: 'kept' }> } | undefined> {
    const path = `/api/messaging/sessions/${chat.session}/messages?limit=${chat.limit}`;
    const reading = options.readOwn(path, client, signal);
    if (!reading) return undefined;
    const noteRead = options.chatEdge?.reading(chat.session);
    const read = await reading;
    const failure = (status: number, code: string, message: string) => JSON.stringify({ error: { status, code, message } });
    if (read.kind === 'failed') return failure(read.status, read.code, read.message);
    const arrivedAt = now();
    options.budget.note(readUpstreamBudget(read.headers, arrivedAt), arrivedAt, read.status);
    if (SESSION_GONE.has(read.status)) {
      noteRead?.(read.status);
      return '{"gone":true}';
    }
    // The server said stop (this user's own budget on the embedded server; everyone's in
    // front of a stock one, which the gateway then holds): the whole answer is that 429, as
    // the chat poll would have had it, and nothing more goes upstream for it.
    if (read.status === 429) {
      return { limitedBy: { kind: 'pass', status: 429, headers: browserHeaders(read.headers, DROPPED_ANSWER_HEADERS), body: read.body } };
    }
    if (read.status < 200 || read.status >= 300) return failure(read.status, 'UPSTREAM_ERROR', "The agent's server answered with an error.");
    try {
      if (!isJson(read)) throw new Error('not JSON');
      const clean = parseForBrowser(read.body, false);
      checkAnswer('GET', path.split('?')[0]!, clean.value);
      noteRead?.(read.status, clean.value);
      return JSON.stringify(clean.value);
    } catch {
      // Refused at the door: no part of it reaches a browser.
      return failure(502, 'UPSTREAM_BAD_ANSWER', "The agent's server sent something Purl couldn't read.");
    }
  }

  async function answer(req: IncomingMessage, res: ServerResponse, query: SyncQuery, client: string, signal: AbortSignal): Promise<void> {
    let since: number | undefined;
    if (query.since !== undefined) {
      const [, cursorEpoch, cursorSeq] = CURSOR.exec(query.since)!;
      if (cursorEpoch === epoch) {
        since = Number(cursorSeq);
        if (since > seq) {
          sendError(res, 400, 'INVALID_CURSOR', 'The since cursor is ahead of every cursor this gateway gave out; leave it out to sync from the start.');
          return;
        }
      }
    }
    // The chat's read starts at once, beside the shared ones.
    const chatRead = query.chat ? readChat(query.chat, client, signal) : undefined;
    const agentsRead = await options.edge.read(
      { path: AGENTS_PATH, client, check: (body) => checkAnswer('GET', AGENTS_PATH, body) },
      options.agentsTtlMs,
      signal,
    );
    if (agentsRead.kind !== 'kept') return sendFailure(res, client, agentsRead);
    noteAgents(agentsRead.entry, agentsRead.value);
    let log: AgentLog | undefined;
    const agentId = query.agentId;
    // The chat's answer before the memories' read: a 429 for this user stops it going out.
    const chat = chatRead ? await chatRead : undefined;
    if (chat && 'limitedBy' in chat) return sendFailure(res, client, chat.limitedBy);
    if (agentId !== undefined && agents?.ids.has(agentId)) {
      const path = memoriesPath(agentId);
      const pathname = path.split('?')[0]!;
      const memoriesRead = await options.edge.read({ path, client, check: (body) => checkAnswer('GET', pathname, body) }, memoriesWindow(agentId), signal);
      if (memoriesRead.kind !== 'kept') return sendFailure(res, client, memoriesRead);
      log = noteMemories(agentId, memoriesRead.entry, memoriesRead.value);
    }
    // A cursor from before this gateway started, or older than what the log still knows, cannot be answered with a delta.
    if (since !== undefined && log && since < log.horizon) since = undefined;
    if (res.destroyed || res.headersSent) return;
    const etag = `"${cursor()}"`;
    res.setHeader('Cache-Control', chat ? 'no-store' : 'no-cache');
    if (!chat) res.setHeader('ETag', etag);
    res.setHeader('X-Purl-Sync', since === undefined ? 'reset' : 'delta');
    // Everyone's budget (a stock server): the shared part did not spend it for this browser,
    // so its members do not bind the worker (sw/guard.ts); a chat part read upstream did, so they do.
    if (options.budget.shared && (!chat || chat.heard)) res.setHeader(EDGE_HEADER, 'sync');
    // Stated as it stands now, after this answer's own reads.
    options.standing?.(res, client);
    writeUpstreamBudget(options.budget.last(), res, now());
    if (!chat && since === seq && matchesIfNoneMatch(req.headers['if-none-match'], etag)) {
      counts.notModified++;
      res.writeHead(304);
      res.end();
      return;
    }
    if (since === undefined) counts.resets++;
    else counts.deltas++;
    const shared = answerFor(agentId, log, since);
    // The shared part ends with its closing brace: the chat goes in just before it.
    const body = chat ? Buffer.concat([shared.subarray(0, shared.length - 1), Buffer.from(`,"chat":${chat.json}}`)]) : shared;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', body.length);
    res.writeHead(200);
    res.end(body);
  }

  return {
    serve(req, res, query, client) {
      // The browser leaving (its request timed out) ends the reads made for it alone, and its share of the shared ones.
      const left = new AbortController();
      res.on('close', () => {
        if (!res.writableFinished) left.abort();
      });
      answer(req, res, query, client, left.signal).catch(() =>
        sendError(res, 502, 'UPSTREAM_UNAVAILABLE', "The agent's server isn't reachable right now. Purl will try again shortly."),
      );
    },
    markDue(agentId) {
      const log = logs.get(agentId.toLowerCase());
      if (log) log.dueAt = now();
    },
    stats() {
      let memories = 0;
      let tombstones = 0;
      for (const log of logs.values()) {
        memories += log.entries.size;
        tombstones += log.tombstones.size;
      }
      return { agents: logs.size, memories, tombstones, bytes: totalBytes(), ...counts };
    },
  };
}
