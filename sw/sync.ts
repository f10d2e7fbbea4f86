/**
 * Brings the agent list and the selected agent's memories from the server into
 * IndexedDB, and tells every tab what changed. Pure TypeScript: the clock, the
 * network and the database are injected, so unit tests drive it with fakes.
 *
 * This is the first data path (heartbeat-driven refresh); the queue, poller and
 * breaker of DESIGN.md replace the scheduling part.
 */
import { apiPaths, parseAgentList, parseMemories } from '../src/shared/api';
import { getMeta, type PurlDatabase, type SyncStatus } from '../src/shared/db';
import { PurlError } from '../src/shared/errors';
import type { PurlEvent } from '../src/shared/messages';
import { reconcileMemories, saveAgents, setMeta } from './store';

/** What one API read produced: the answer to use, and what the network did this time. */
export interface ApiResult {
  /** The freshest answer available (network, or cache when the network failed). */
  response?: Response;
  /** Why the network part failed, when it did. */
  failure?: PurlError;
}

/**
 * `C` is whatever keeps the worker alive while a read runs (the event in the worker);
 * it is handed back to `fetchApi` untouched. A merged re-run uses the context of the
 * run it joins, which is still alive because its event waits for the whole loop.
 */
export interface SyncOptions<C> {
  getDb: () => Promise<PurlDatabase>;
  fetchApi: (path: string, context: C) => Promise<ApiResult>;
  broadcast: (event: PurlEvent) => void;
  now: () => number;
  /** The refresh interval in force, ms. */
  intervalMs: () => Promise<number>;
}

export interface Sync<C> {
  /** Refreshes now; calls made while one runs merge into one more run. */
  refresh(context: C): Promise<void>;
  /** A tab is alive: refreshes when the schedule says it is due. */
  onHeartbeat(context: C): Promise<void>;
  /** Makes another agent the selected one and loads its memories. */
  selectAgent(agentId: string, context: C): Promise<void>;
}

type Store = 'agents' | 'memories' | 'meta';

async function readJson(response: Response): Promise<unknown> {
  if (!response.ok) throw new PurlError('http-error', `HTTP ${response.status}`);
  try {
    return await response.json();
  } catch {
    throw new PurlError('bad-response', 'the body is not JSON');
  }
}

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
    }
  }
  return 'Something went wrong while refreshing. Showing saved memories; Purl will try again shortly.';
}

export function createSync<C>(options: SyncOptions<C>): Sync<C> {
  const { getDb, fetchApi, broadcast, now } = options;
  let running: Promise<void> | null = null;
  let rerunRequested = false;

  async function fetchBody(path: string, context: C): Promise<{ body: unknown; failure?: PurlError }> {
    const { response, failure } = await fetchApi(path, context);
    if (!response) throw failure ?? new PurlError('network-error');
    return failure ? { body: await readJson(response), failure } : { body: await readJson(response) };
  }

  async function chooseAgent(db: PurlDatabase, agentIds: readonly string[]): Promise<string> {
    const selected = await getMeta(db, 'selectedAgentId');
    if (selected && agentIds.includes(selected)) return selected;
    const first = agentIds[0];
    if (!first) throw new PurlError('no-agent');
    await setMeta(db, 'selectedAgentId', first);
    return first;
  }

  async function runOnce(context: C): Promise<void> {
    const db = await getDb();
    const changed = new Set<Store>(['meta']);
    const status: SyncStatus = { attemptedAt: now() };
    const previous = await getMeta(db, 'sync');
    if (previous?.succeededAt !== undefined) status.succeededAt = previous.succeededAt;
    try {
      const agentsRead = await fetchBody(apiPaths.agents, context);
      const agents = parseAgentList(agentsRead.body);
      if (await saveAgents(db, agents)) changed.add('agents');
      const agentId = await chooseAgent(db, agents.map((agent) => agent.id));
      const memoriesRead = await fetchBody(apiPaths.memories(agentId), context);
      const result = await reconcileMemories(db, agentId, parseMemories(memoriesRead.body, agentId));
      if (result.added + result.removed > 0) changed.add('memories');
      const failure = agentsRead.failure ?? memoriesRead.failure;
      if (failure) status.error = describeFailure(failure);
      else status.succeededAt = status.attemptedAt;
    } catch (error) {
      status.error = describeFailure(error);
    }
    await setMeta(db, 'sync', status);
    broadcast({ type: 'data-changed', stores: [...changed] });
  }

  function refresh(context: C): Promise<void> {
    if (running) {
      rerunRequested = true;
      return running;
    }
    running = (async () => {
      do {
        rerunRequested = false;
        await runOnce(context);
      } while (rerunRequested);
    })().finally(() => {
      running = null;
    });
    return running;
  }

  async function onHeartbeat(context: C): Promise<void> {
    const db = await getDb();
    const interval = await options.intervalMs();
    // Check and advance the deadline in one transaction, so two tabs' heartbeats
    // arriving together cause one refresh, not two.
    const tx = db.transaction('meta', 'readwrite');
    const due = ((await tx.store.get('nextRefreshAt')) as number | undefined) ?? 0;
    const at = now();
    const isDue = at >= due;
    if (isDue) await tx.store.put(at + interval, 'nextRefreshAt');
    await tx.done;
    if (isDue) await refresh(context);
  }

  async function selectAgent(agentId: string, context: C): Promise<void> {
    const db = await getDb();
    if (!(await db.get('agents', agentId))) return;
    await setMeta(db, 'selectedAgentId', agentId);
    broadcast({ type: 'data-changed', stores: ['meta'] });
    await refresh(context);
  }

  return { refresh, onHeartbeat, selectAgent };
}
