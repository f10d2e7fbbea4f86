/**
 * The worker's writes to IndexedDB. Only the worker writes; each function reports
 * whether anything changed, so tabs are told only about real changes.
 */
import type { Agent, Memory } from '../src/shared/api';
import type { MetaKey, MetaValues, PurlDatabase } from '../src/shared/db';

function sameAgent(a: Agent, b: Agent): boolean {
  return a.name === b.name && a.bio === b.bio && a.status === b.status;
}

/** Replaces the stored agent list with the server's. Returns true when it changed. */
export async function saveAgents(db: PurlDatabase, agents: readonly Agent[]): Promise<boolean> {
  const tx = db.transaction('agents', 'readwrite');
  const stored = new Map((await tx.store.getAll()).map((agent) => [agent.id, agent]));
  let changed = false;
  for (const agent of agents) {
    const old = stored.get(agent.id);
    stored.delete(agent.id);
    if (old && sameAgent(old, agent)) continue;
    changed = true;
    void tx.store.put(agent);
  }
  for (const goneId of stored.keys()) {
    changed = true;
    void tx.store.delete(goneId);
  }
  await tx.done;
  return changed;
}

export interface ReconcileResult {
  added: number;
  removed: number;
}

/**
 * Makes the stored memories of one agent equal to the server's full list
 * (ElizaOS returns every memory each time): adds the new ones, drops the deleted ones.
 */
export async function reconcileMemories(
  db: PurlDatabase,
  agentId: string,
  memories: readonly Memory[],
): Promise<ReconcileResult> {
  const tx = db.transaction('memories', 'readwrite');
  const range = IDBKeyRange.bound([agentId, -Infinity], [agentId, Infinity]);
  const storedIds = new Set(await tx.store.index('by-agent').getAllKeys(range));
  let added = 0;
  for (const memory of memories) {
    if (storedIds.delete(memory.id)) continue;
    added += 1;
    void tx.store.put(memory);
  }
  for (const goneId of storedIds) void tx.store.delete(goneId);
  await tx.done;
  return { added, removed: storedIds.size };
}

export async function setMeta<K extends MetaKey>(db: PurlDatabase, key: K, value: MetaValues[K]): Promise<void> {
  await db.put('meta', value, key);
}
