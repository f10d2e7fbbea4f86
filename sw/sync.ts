/**
 * Brings the agent list and the selected agent's memories from the server into
 * IndexedDB, and tells every tab what changed. Pure TypeScript: the clock, the
 * network and the database are injected, so unit tests drive it with fakes. When it
 * runs is the poller's business (sw/poller.ts); how reads reach the server is the
 * freshness cache's and the queue's. An answer's data is stored only after it passed
 * the shape check of src/shared/api.ts, and stamped fresh only after it was stored: a
 * bad answer fails the refresh and leaves the saved data as it was.
 */
import { chooseAgent } from '../src/shared/agent-choice';
import {
  type Agent,
  apiPaths,
  CHAT_POLL_LIMIT,
  type ChatSession,
  parseAgentList,
  parseMemories,
  parseSyncAnswer,
  SYNC_CURSOR,
  type SyncChatPart,
} from '../src/shared/api';
import { getMeta, listAgents, type PurlDatabase, type SyncStatus } from '../src/shared/db';
import { PurlError } from '../src/shared/errors';
import type { PurlEvent, StoreName } from '../src/shared/messages';
import type { Priority } from '../src/shared/network';
import type { ApiReader } from './api-reader';
import { applyMemoryChanges, reconcileMemories, saveAgents, setMeta } from './store';

export interface SyncOptions {
  getDb: () => Promise<PurlDatabase>;
  /** Reads an API path at a priority (through the freshness cache and the queue). */
  fetchApi: ApiReader;
  /** True when the gateway offers its sync route (one request a poll, deltas); else the plain routes are read. */
  offersSyncRoute: () => boolean;
  broadcast: (event: PurlEvent) => void;
  now: () => number;
}

/** What a refresh found, and the chat's part when it asked for one and the gateway sent it. */
export type Refreshed = { outcome: 'changed' | 'unchanged'; chat?: SyncChatPart };

export interface Sync {
  /**
   * Brings agents and memories up to date. Resolves whether the memories changed;
   * rejects when the server could not be read (the sync status already says why).
   * Calls made while one runs share it.
   */
  refresh(priority: Priority): Promise<'changed' | 'unchanged'>;
  /**
   * The chat poll through the sync route: one request brings what changed in the memories
   * and the session's latest messages (`chat`; absent when the gateway left them out, its
   * budget keeping such reads back). Resolves undefined, sending nothing, when the gateway
   * offers no sync route or a refresh is under way (its request did not ask for the chat):
   * the chat poll then reads the chat route. A refresh asked for meanwhile shares this one.
   * Rejects as `refresh` does.
   */
  refreshWithChat(session: ChatSession, priority: Priority): Promise<Refreshed | undefined>;
  /** Makes another agent the selected one and loads its memories. */
  selectAgent(agentId: string): Promise<void>;
  /**
   * Whether the gateway's sync, standing at `cursor` for `agentId`'s memories (a push
   * `memories` event), has what this browser lacks: `agentId` is the selected agent and the
   * stored cursor is not `cursor` nor a later one of the same gateway start.
   */
  isBehind(agentId: string, cursor: string): Promise<boolean>;
}

type Store = StoreName;

/** The sentence a person sees for a failed refresh. */
export function describeFailure(error: unknown): string {
  if (error instanceof PurlError) {
    switch (error.code) {
      case 'network-error':
        return "Can't reach the agent's server. Showing saved memories; Purl will try again shortly.";
      case 'http-error':
        return /HTTP 429/.test(error.message)
          ? "The agent's server asked Purl to slow down. Showing saved memories; Purl will try again shortly."
          : "The agent's server answered with an error. Showing saved memories; Purl will try again shortly.";
      case 'bad-response':
        return "The agent's server sent something Purl couldn't read. Showing saved memories; Purl will try again shortly.";
      case 'no-agent':
        return "The agent's server has no agent yet. Purl will look again shortly.";
      case 'bad-config':
        return 'A setting was rejected; Purl is using its defaults.';
      case 'rate-limited':
        return "The agent's server asked Purl to wait. Showing saved memories; Purl will try again when it allows.";
      case 'breaker-open':
        return "The agent's server isn't answering. Showing saved memories; Purl will try again in a few minutes.";
      case 'timeout':
        return "The agent's server is taking too long to answer. Showing saved memories; Purl will try again shortly.";
      case 'queue-full':
        return 'Purl had too many requests waiting and skipped one. It will catch up shortly.';
    }
  }
  return 'Something went wrong while refreshing. Showing saved memories; Purl will try again shortly.';
}

/** The sentence for a failed chat poll: replies may be late, and why. */
export function describeChatPollFailure(error: unknown): string {
  return `Purl can't check the chat for new messages. ${describeFailure(error).replace('saved memories', 'saved messages')}`;
}

export function createSync(options: SyncOptions): Sync {
  const { getDb, fetchApi, broadcast, now } = options;
  let running: Promise<Refreshed> | null = null;
  /** New memories are shown before a long removal of old ones ends (see ReconcileOptions.written). */
  const memoriesWritten = (): void => broadcast({ type: 'data-changed', stores: ['memories'] });

  /** The agent whose memories to read (src/shared/agent-choice.ts), remembered when it changes. */
  async function pickAgent(db: PurlDatabase, agents: readonly Agent[]): Promise<string> {
    const selected = await getMeta(db, 'selectedAgentId');
    const chosen = chooseAgent(agents, { agentId: selected, isByUser: (await getMeta(db, 'agentChosenByUser')) ?? false });
    if (!chosen) throw new PurlError('no-agent');
    if (chosen !== selected) {
      await setMeta(db, 'selectedAgentId', chosen);
      await db.delete('meta', 'agentChosenByUser');
    }
    return chosen;
  }

  /** Today's routes, for a gateway without the sync route: the agent list, then all the agent's memories. */
  async function readPlainRoutes(db: PurlDatabase, priority: Priority, changed: Set<Store>): Promise<void> {
    const agentsRead = await fetchApi(apiPaths.agents, priority);
    // Unchanged: the agents stored last time are the server's.
    const agents = agentsRead.kind === 'new' ? parseAgentList(agentsRead.body) : await listAgents(db);
    if (agentsRead.kind === 'new') {
      if (await saveAgents(db, agents)) changed.add('agents');
      await agentsRead.keep();
    }
    const agentId = await pickAgent(db, agents);
    const memoriesRead = await fetchApi(apiPaths.memories(agentId), priority);
    if (memoriesRead.kind === 'new') {
      const result = await reconcileMemories(db, agentId, parseMemories(memoriesRead.body, agentId), { written: memoriesWritten });
      if (result.added + result.removed + result.updated > 0) changed.add('memories');
      await memoriesRead.keep();
    }
  }

  /** The cursor stored for `agentId`, if it is one (storage is read like any other input). */
  async function cursorFor(db: PurlDatabase, agentId: string | undefined): Promise<string | undefined> {
    const position = await getMeta(db, 'syncCursor');
    if (agentId === undefined || position?.agentId !== agentId || typeof position.cursor !== 'string') return undefined;
    return SYNC_CURSOR.test(position.cursor) ? position.cursor : undefined;
  }

  /**
   * The gateway's sync route: one request brings the agent list when it changed and what
   * changed in the selected agent's memories since the stored cursor (all of them on a
   * reset). The data is stored first, then the cursor, then the stamp: a worker stopped in
   * between is sent the same changes again, which change nothing twice. When the agent
   * list makes another agent the selected one (the first visit, the agent gone), a second
   * request brings that agent's memories.
   */
  async function readSyncRoute(db: PurlDatabase, priority: Priority, changed: Set<Store>, chatSession?: ChatSession): Promise<SyncChatPart | undefined> {
    let agentId = await getMeta(db, 'selectedAgentId');
    let chatPart: SyncChatPart | undefined;
    for (let round = 0; round < 2; round += 1) {
      // The chat rides along on the first request only (the second is for another agent's memories).
      const chat = round === 0 && chatSession ? { sessionId: chatSession.sessionId, limit: CHAT_POLL_LIMIT } : undefined;
      const read = await fetchApi(apiPaths.sync(agentId, await cursorFor(db, agentId), chat), priority, apiPaths.sync(agentId));
      let agents: readonly Agent[] | undefined;
      if (read.kind === 'new') {
        const answer = parseSyncAnswer(read.body, agentId);
        if (answer.agents) {
          agents = answer.agents;
          if (await saveAgents(db, answer.agents)) changed.add('agents');
        }
        if (agentId !== undefined && answer.memories) {
          const result = answer.reset
            ? await reconcileMemories(db, agentId, answer.memories, { written: memoriesWritten })
            : await applyMemoryChanges(db, agentId, answer.memories, answer.removed);
          if (result.added + result.removed + result.updated > 0) changed.add('memories');
          await setMeta(db, 'syncCursor', { agentId, cursor: answer.cursor });
        }
        await read.keep();
        if (chat) chatPart = answer.chat;
      }
      const chosen = await pickAgent(db, agents ?? (await listAgents(db)));
      if (chosen === agentId) return chatPart;
      agentId = chosen;
    }
  }

  async function runOnce(priority: Priority, chatSession?: ChatSession): Promise<Refreshed> {
    const db = await getDb();
    const changed = new Set<Store>(['meta']);
    const status: SyncStatus = { attemptedAt: now() };
    const previous = await getMeta(db, 'sync');
    if (previous?.succeededAt !== undefined) status.succeededAt = previous.succeededAt;
    let failure: unknown;
    let chat: SyncChatPart | undefined;
    try {
      if (options.offersSyncRoute()) chat = await readSyncRoute(db, priority, changed, chatSession);
      else await readPlainRoutes(db, priority, changed);
    } catch (error) {
      failure = error;
    }
    if (failure) status.error = describeFailure(failure);
    else status.succeededAt = status.attemptedAt;
    await setMeta(db, 'sync', status);
    broadcast({ type: 'data-changed', stores: [...changed] });
    if (failure) throw failure;
    const outcome = changed.has('memories') || changed.has('agents') ? 'changed' : 'unchanged';
    return chat ? { outcome, chat } : { outcome };
  }

  function start(priority: Priority, chatSession?: ChatSession): Promise<Refreshed> {
    const run = runOnce(priority, chatSession).finally(() => {
      if (running === run) running = null;
    });
    running = run;
    return run;
  }

  async function refresh(priority: Priority): Promise<'changed' | 'unchanged'> {
    return (await (running ?? start(priority))).outcome;
  }

  async function refreshWithChat(session: ChatSession, priority: Priority): Promise<Refreshed | undefined> {
    if (running || !options.offersSyncRoute()) return undefined;
    return start(priority, session);
  }

  async function selectAgent(agentId: string): Promise<void> {
    const db = await getDb();
    if (!(await db.get('agents', agentId))) return;
    await setMeta(db, 'selectedAgentId', agentId);
    await setMeta(db, 'agentChosenByUser', true);
    broadcast({ type: 'data-changed', stores: ['meta'] });
    await running?.catch(() => undefined);
    await refresh('user').catch(() => undefined);
  }

  async function isBehind(agentId: string, cursor: string): Promise<boolean> {
    const db = await getDb();
    const selected = await getMeta(db, 'selectedAgentId');
    if (selected === undefined || selected.toLowerCase() !== agentId.toLowerCase()) return false;
    const stored = await cursorFor(db, selected);
    if (stored === undefined) return true;
    const [storedEpoch, storedSeq] = stored.split('.');
    const [epoch, seq] = cursor.split('.');
    return storedEpoch !== epoch || Number(storedSeq) < Number(seq);
  }

  return { refresh, refreshWithChat, selectAgent, isBehind };
}
