/**
 * This tab's typed messages, wired: the unsent store on localStorage, the resend
 * protocol asking the worker, IndexedDB to look in when the worker did not answer, and
 * Background Sync once a message waits in the outbox.
 */
import { getDb } from '../data/sources';
import { registerOutboxSync } from './background-sync';
import { askWorker } from './commands';
import { Outgoing } from './outgoing';
import { UnsentStore, type UnsentMessage } from './unsent';

const store = new UnsentStore({
  storage: () => localStorage,
  onOtherTab: (listener) => {
    const onStorage = (event: StorageEvent) => listener(event.key);
    addEventListener('storage', onStorage);
    return () => removeEventListener('storage', onStorage);
  },
});

const outgoing = new Outgoing({
  store,
  ask: (command) => askWorker(command),
  isSaved: async (clientId) => {
    const db = await getDb();
    return (await db.getKey('outbox', clientId)) !== undefined || (await db.getKeyFromIndex('chat', 'by-client', clientId)) !== undefined;
  },
  onSaved: () => void registerOutboxSync(),
  now: Date.now,
  randomUUID: () => crypto.randomUUID(),
});

/**
 * Hands a typed message to the worker's outbox. Resolves with its clientId once it is
 * saved there; rejects with the first failure's reason (a PurlError) while the message
 * stays kept in this browser and is handed over again.
 */
export function sendMessage(agentId: string, text: string): Promise<string> {
  return outgoing.send(agentId, text);
}

/** Messages typed in any tab of this browser that the worker has not saved yet, oldest first. */
export function listUnsent(): UnsentMessage[] {
  return store.list();
}

/** The unsent messages, as they change in this tab or another. */
export const unsentMessages = store.changes;

/** Hands over what earlier tabs kept and the worker never confirmed (at page start). */
export function resumeUnsent(): void {
  outgoing.resume();
}
