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
import type { UpstreamBudget } from '../budget/upstream-budget';
import { sendError } from '../door/errors';
import { writeUpstreamBudget } from '../upstream/rate-limit-headers';
import type { UpstreamRead } from '../upstream/client';
import type { ChatEdge } from './chat-edge';
import { unrefClock } from '../clock';
import { type Edge, type EdgeOutcome, type KeptAnswer, matchesIfNoneMatch, sendUnkept } from './edge';
import { type ChatLimited, type ChatPart, readChat, withChat } from './sync-chat';
import type { SyncQuery } from './sync-query';
import {
  type AgentLog,
  cursorOf,
  deltaSince,
  evictLogs,
  isListed,
  listUnder,
  logStats,
  markDue,
  memoriesWindow,
  newSyncState,
  noteAgents,
  noteMemories,
  ReadyAnswers,
  type SyncSource,
  sinceOf,
  syncJson,
} from './sync-log';

export { parseSyncQuery, SYNC_PATH, type SyncQuery } from './sync-query';
export { MAX_TOMBSTONES } from './sync-log';

/** Answers kept ready for the cursors browsers send (most are at the same few), per state. */
const MAX_READY_ANSWERS = 256;
const AGENTS_PATH = '/api/agents';
const memoriesPath = (agentId: string) => `/api/agents/${agentId}/memories?tableName=messages&includeEmbedding=false`;

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

/** An edge answer as the log reads it: the list under `data.<key>`, parsed only when it is news. */
const sourceOf = (entry: KeptAnswer, key: string, parsed?: unknown): SyncSource => ({
  etag: entry.etag,
  storedAt: entry.storedAt,
  list: () => listUnder(parsed ?? JSON.parse(entry.body.toString('utf8')), key),
});

type Unkept = Exclude<EdgeOutcome, { kind: 'kept' }>;

/** What a sync answer is made of, once its reads are done. */
interface Parts {
  log?: AgentLog;
  chat?: ChatPart;
}

/** Sends an edge outcome that is not a kept answer at `at`: the failure, or the upstream's own error as it came. */
function sendFailure(options: SyncOptions, res: ServerResponse, client: string, outcome: Unkept, at: number): void {
  if (!res.headersSent) options.standing?.(res, client);
  if (outcome.kind === 'pass' && outcome.status >= 200 && outcome.status < 300) {
    // A 2xx the edge did not keep failed the boundary check: no part of it reaches a browser.
    sendError(res, 502, 'UPSTREAM_BAD_ANSWER', "The agent's server sent something Purl couldn't read. Purl will try again shortly.");
    return;
  }
  sendUnkept(res, outcome, options.budget.last(), at);
}

/**
 * The wiring: the state (sync-log.ts) as data with its rules, the chat part from
 * sync-chat.ts; here only the edge's reads, the counts and the response.
 */
export function createSyncRoute(options: SyncOptions): SyncRoute {
  const now = options.now ?? unrefClock.now;
  const state = newSyncState(options.epoch ?? randomBytes(6).toString('hex'));
  const ready = new ReadyAnswers(MAX_READY_ANSWERS);
  const counts = { deltas: 0, resets: 0, notModified: 0 };
  const chatReads = { readOwn: options.readOwn, budget: options.budget, now, ...(options.chatEdge ? { chatEdge: options.chatEdge } : {}) };

  /** Applies the agent's memories as the edge has them now (read upstream at most once per window). */
  async function readMemories(agentId: string, client: string, signal: AbortSignal): Promise<AgentLog | Unkept> {
    const path = memoriesPath(agentId);
    const pathname = path.split('?')[0]!;
    const window = memoriesWindow(state.logs.get(agentId), options.memoriesTtlMs, now());
    const read = await options.edge.read({ path, client, check: (body) => checkAnswer('GET', pathname, body) }, window, signal);
    if (read.kind !== 'kept') return read;
    const { log, isNews } = noteMemories(state, agentId, sourceOf(read.entry, 'memories', read.value), now());
    evictLogs(state, agentId, options.maxBytes);
    if (isNews) options.onMemoriesChanged?.(agentId, cursorOf(state));
    return log;
  }

  /** The answer's reads: the chat's at once, beside the shared ones; a failure ends the answer. */
  async function readParts(query: SyncQuery, client: string, signal: AbortSignal): Promise<Parts | Unkept> {
    const chatRead = query.chat ? readChat(chatReads, query.chat, client, signal) : undefined;
    const agentsRead = await options.edge.read(
      { path: AGENTS_PATH, client, check: (body) => checkAnswer('GET', AGENTS_PATH, body) },
      options.agentsTtlMs,
      signal,
    );
    if (agentsRead.kind !== 'kept') return agentsRead;
    noteAgents(state, sourceOf(agentsRead.entry, 'agents', agentsRead.value));
    // The chat's answer before the memories' read: a 429 for this user stops it going out.
    const chat: ChatPart | ChatLimited | undefined = chatRead ? await chatRead : undefined;
    if (chat && 'limitedBy' in chat) return chat.limitedBy;
    const parts: Parts = chat ? { chat } : {};
    if (query.agentId === undefined || !isListed(state, query.agentId)) return parts;
    const log = await readMemories(query.agentId, client, signal);
    return 'kind' in log ? log : { ...parts, log };
  }

  async function answer(req: IncomingMessage, res: ServerResponse, query: SyncQuery, client: string, signal: AbortSignal): Promise<void> {
    const asked = sinceOf(state, query.since);
    if (asked === 'ahead') {
      sendError(res, 400, 'INVALID_CURSOR', 'The since cursor is ahead of every cursor this gateway gave out; leave it out to sync from the start.');
      return;
    }
    const parts = await readParts(query, client, signal);
    if ('kind' in parts) return sendFailure(options, res, client, parts, now());
    const { log, chat } = parts;
    const since = deltaSince(asked, log);
    if (res.destroyed || res.headersSent) return;
    const etag = `"${cursorOf(state)}"`;
    res.setHeader('Cache-Control', chat ? 'no-store' : 'no-cache');
    if (!chat) res.setHeader('ETag', etag);
    res.setHeader('X-Purl-Sync', since === undefined ? 'reset' : 'delta');
    // Everyone's budget (a stock server): the shared part did not spend it for this browser,
    // so its members do not bind the worker (sw/guard.ts); a chat part read upstream did, so they do.
    if (options.budget.shared && (!chat || chat.heard)) res.setHeader(EDGE_HEADER, 'sync');
    // Stated as it stands now, after this answer's own reads.
    options.standing?.(res, client);
    writeUpstreamBudget(options.budget.last(), res, now());
    if (!chat && since === state.seq && matchesIfNoneMatch(req.headers['if-none-match'], etag)) {
      counts.notModified++;
      res.writeHead(304);
      res.end();
      return;
    }
    if (since === undefined) counts.resets++;
    else counts.deltas++;
    const key = `${query.agentId ?? ''}|${since ?? 'reset'}|${log ? 'listed' : 'unlisted'}`;
    const shared = ready.get(state.seq, key, () => syncJson(state, log, since));
    const body = withChat(shared, chat?.json);
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
    markDue: (agentId) => markDue(state, agentId, now()),
    stats: () => ({ ...logStats(state), ...counts }),
  };
}
