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
 * Memories written per transaction. A huge answer (tens of thousands of memories) is
 * saved in steps, so the worker's other writes (the chat, the poll schedules) get their
 * turn between them instead of waiting for one long transaction to commit.
 */
export const MEMORY_WRITE_BATCH = 500;

/**
 * Makes the stored memories of one agent equal to the server's full list
 * (ElizaOS returns every memory each time): adds the new ones, drops the deleted ones.
 * Only the worker's single-flight sync calls it, so nothing else writes memories
 * between its steps; a worker stopped midway leaves a subset that the next sync completes.
 */
export async function reconcileMemories(
  db: PurlDatabase,
  agentId: string,
  memories: readonly Memory[],
  batchSize = MEMORY_WRITE_BATCH,
): Promise<ReconcileResult> {
  const range = IDBKeyRange.bound([agentId, -Infinity], [agentId, Infinity]);
  const storedIds = new Set(await db.getAllKeysFromIndex('memories', 'by-agent', range));
  const added = memories.filter((memory) => !storedIds.delete(memory.id));
  const removed = [...storedIds];
  for (let i = 0; i < added.length; i += batchSize) {
    const tx = db.transaction('memories', 'readwrite');
    for (const memory of added.slice(i, i + batchSize)) void tx.store.put(memory);
    await tx.done;
  }
  for (let i = 0; i < removed.length; i += batchSize) {
    const tx = db.transaction('memories', 'readwrite');
    for (const id of removed.slice(i, i + batchSize)) void tx.store.delete(id);
    await tx.done;
  }
  return { added: added.length, removed: removed.length };
}

export async function setMeta<K extends MetaKey>(db: PurlDatabase, key: K, value: MetaValues[K]): Promise<void> {
  await db.put('meta', value, key);
}
