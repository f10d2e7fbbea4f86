/**
 * What the page listens to: the worker's data-change broadcasts and the browser's
 * online state. The page reads IndexedDB; it never calls the API.
 */
import { openPurlDB, type PurlDatabase } from '../shared/db';
import { CHANNEL_NAME, isPurlEvent, type PurlEvent } from '../shared/messages';
import { Subscribable } from './subscribable';

export const workerEvents = new Subscribable<PurlEvent>((emit) => {
  const channel = new BroadcastChannel(CHANNEL_NAME);
  channel.onmessage = (event: MessageEvent<unknown>) => {
    if (isPurlEvent(event.data)) emit(event.data);
  };
  return () => channel.close();
});

export const onlineState = new Subscribable<boolean>((emit) => {
  const update = () => emit(navigator.onLine);
  addEventListener('online', update);
  addEventListener('offline', update);
  return () => {
    removeEventListener('online', update);
    removeEventListener('offline', update);
  };
});

let dbPromise: Promise<PurlDatabase> | null = null;

/** How long opening the database may take before the page says it is waiting for it. */
const SLOW_OPEN_MS = 4_000;
let isWaitingForDb = false;
const waitListeners = new Set<(waiting: boolean) => void>();

function setWaitingForDb(waiting: boolean): void {
  if (waiting === isWaitingForDb) return;
  isWaitingForDb = waiting;
  for (const listener of [...waitListeners]) listener(waiting);
}

/**
 * The page's read connection; reopened after a newer worker upgraded the database.
 * An open that has to wait (for an old tab holding an older version open; only the
 * context that asked for the upgrade hears `blocked`, every other waits in silence, so
 * a slow open counts too) is announced through {@link databaseWait}.
 */
export function getDb(): Promise<PurlDatabase> {
  if (dbPromise) return dbPromise;
  const slow = setTimeout(() => setWaitingForDb(true), SLOW_OPEN_MS);
  const opened = openPurlDB({ onBlocking: () => (dbPromise = null), onBlocked: () => setWaitingForDb(true) }).finally(() => {
    clearTimeout(slow);
    setWaitingForDb(false);
  });
  dbPromise = opened.catch((error: unknown) => {
    dbPromise = null;
    throw error;
  });
  return dbPromise;
}

/** True while the page waits to open its saved data (another tab keeps an older version open). */
export const databaseWait = new Subscribable<boolean>((emit) => {
  waitListeners.add(emit);
  emit(isWaitingForDb);
  return () => waitListeners.delete(emit);
});

/**
 * How long after the worker last said it had no room to save the page still says so,
 * unless the worker shows sooner that it saves again. While storage stays full it says
 * so again with every command that fails, at least with each heartbeat (every 5 s from
 * a visible tab).
 */
const STORAGE_FULL_WINDOW_MS = 12_000;

/** True while the worker keeps failing to save because the browser has no room left for Purl. */
export const storageFull = new Subscribable<boolean>((emit) => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const unsubscribe = workerEvents.subscribe((event) => {
    if (event.type !== 'storage-full') {
      // The worker announces changes and figures only after writing them: it saves again.
      clearTimeout(timer);
      emit(false);
      return;
    }
    emit(true);
    clearTimeout(timer);
    timer = setTimeout(() => emit(false), STORAGE_FULL_WINDOW_MS);
  });
  return () => {
    clearTimeout(timer);
    unsubscribe();
  };
});
