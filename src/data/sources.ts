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

/** The page's read connection; reopened after a newer worker upgraded the database. */
export function getDb(): Promise<PurlDatabase> {
  return (dbPromise ??= openPurlDB({ onBlocking: () => (dbPromise = null) }).catch((error: unknown) => {
    dbPromise = null;
    throw error;
  }));
}
