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
  /** Memories the server still has under the same id, changed (edited text, a new thought). */
  updated: number;
}

/**
 * Memories written per transaction. A huge answer (tens of thousands of memories) is
 * saved in steps, so the worker's other writes (the chat, the poll schedules) get their
 * turn between them instead of waiting for one long transaction to commit.
 */
export const MEMORY_WRITE_BATCH = 500;

/** True when two versions of a memory hold the same values, whatever their key order. */
export function isSameMemory(a: Memory, b: Memory): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof Memory>;
  for (const key of keys) {
    if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) return false;
  }
  return true;
}

export interface ReconcileOptions {
  /** Memories written per transaction (MEMORY_WRITE_BATCH). */
  batchSize?: number;
  /**
   * Called once the new and edited memories are stored, when removals are still to come:
   * the tabs can show what is new while the old ones are deleted. Removing 19,000
   * memories (the 20 MB fault's answer replaced by the real one) took 3.3 s in Chromium
   * on this machine under load, and the news waited for all of it.
   */
  written?: () => void;
}

/**
 * Makes the stored memories of one agent equal to the server's full list
 * (ElizaOS returns every memory each time): adds the new ones, rewrites the ones edited
 * on the server (same id, new content), then drops the deleted ones.
 * Only the worker's single-flight sync calls it, so nothing else writes memories
 * between its steps; a worker stopped midway leaves a subset that the next sync completes.
 */
export async function reconcileMemories(
  db: PurlDatabase,
  agentId: string,
  memories: readonly Memory[],
  { batchSize = MEMORY_WRITE_BATCH, written }: ReconcileOptions = {},
): Promise<ReconcileResult> {
  const range = IDBKeyRange.bound([agentId, -Infinity], [agentId, Infinity]);
  const stored = new Map((await db.getAllFromIndex('memories', 'by-agent', range)).map((memory) => [memory.id, memory]));
  let added = 0;
  const writes = memories.filter((memory) => {
    const old = stored.get(memory.id);
    stored.delete(memory.id);
    if (!old) added += 1;
    return !old || !isSameMemory(old, memory);
  });
  const removed = [...stored.keys()];
  for (let i = 0; i < writes.length; i += batchSize) {
    const tx = db.transaction('memories', 'readwrite');
    for (const memory of writes.slice(i, i + batchSize)) void tx.store.put(memory);
    await tx.done;
  }
  if (writes.length > 0 && removed.length > 0) written?.();
  for (let i = 0; i < removed.length; i += batchSize) {
    const tx = db.transaction('memories', 'readwrite');
    for (const id of removed.slice(i, i + batchSize)) void tx.store.delete(id);
    await tx.done;
  }
  return { added, removed: removed.length, updated: writes.length - added };
}

/**
 * Applies a delta of the gateway's sync route to one agent's stored memories: `changed`
 * are new or edited (written when they differ from what is stored), `removed` are ids
 * deleted on the server (only this agent's are deleted). Applying the same delta twice
 * changes nothing the second time, so a worker stopped before it saved the cursor loses
 * nothing by being sent it again.
 */
export async function applyMemoryChanges(
  db: PurlDatabase,
  agentId: string,
  changed: readonly Memory[],
  removed: readonly string[],
  batchSize = MEMORY_WRITE_BATCH,
): Promise<ReconcileResult> {
  const result: ReconcileResult = { added: 0, removed: 0, updated: 0 };
  // Each batch's reads are sent together (IndexedDB pipelines them), not one after another:
  // a delta of 20,000 memories would otherwise wait on 20,000 round trips.
  for (let i = 0; i < changed.length; i += batchSize) {
    const tx = db.transaction('memories', 'readwrite');
    const batch = changed.slice(i, i + batchSize);
    const stored = await Promise.all(batch.map((memory) => tx.store.get(memory.id)));
    batch.forEach((memory, index) => {
      const old = stored[index];
      if (old && isSameMemory(old, memory)) return;
      if (old) result.updated += 1;
      else result.added += 1;
      void tx.store.put(memory);
    });
    await tx.done;
  }
  for (let i = 0; i < removed.length; i += batchSize) {
    const tx = db.transaction('memories', 'readwrite');
    const batch = removed.slice(i, i + batchSize);
    const stored = await Promise.all(batch.map((id) => tx.store.get(id)));
    batch.forEach((id, index) => {
      if (stored[index]?.agentId !== agentId) return;
      result.removed += 1;
      void tx.store.delete(id);
    });
    await tx.done;
  }
  return result;
}

export async function setMeta<K extends MetaKey>(db: PurlDatabase, key: K, value: MetaValues[K]): Promise<void> {
  await db.put('meta', value, key);
}
