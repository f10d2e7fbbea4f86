/// <reference lib="webworker" />
/**
 * The service worker: wiring only. Precache the shell, serve navigations from it, and
 * hand page commands to the network core. Every request to the agent's API is made by
 * the core, through one queue, one breaker and one cache for all tabs.
 */
import { clientsClaim } from 'workbox-core';
import { cleanupOutdatedCaches, createHandlerBoundToURL, precacheAndRoute } from 'workbox-precaching';
import { NavigationRoute, registerRoute } from 'workbox-routing';
import { openPurlDB, type PurlDatabase } from '../src/shared/db';
import { CHANNEL_NAME, isCommand, OUTBOX_SYNC_TAG } from '../src/shared/messages';
import { createCommandReplies } from './command-reply';
import { createOverridesSource } from './config-source';
import { createCore } from './core';
import { retireOldCopies } from './fresh-cache';

declare const self: ServiceWorkerGlobalScope & { __WB_MANIFEST: Array<string | { url: string; revision: string | null }> };
/** One-off Background Sync (https://wicg.github.io/background-sync/spec/): not in TypeScript's WebWorker lib. */
interface SyncEvent extends ExtendableEvent {
  readonly tag: string;
}

cleanupOutdatedCaches();
precacheAndRoute(self.__WB_MANIFEST);
registerRoute(
  new NavigationRoute(createHandlerBoundToURL('index.html'), {
    denylist: [/^\/api\//, /^\/health$/, /^\/config\.json$/],
  }),
);
// The first install takes control of open pages at once; later versions wait for the
// user to accept the update prompt (a 'skip-waiting' command).
clientsClaim();

// Pages are answered on their command's port; failures are logged (a failed command must not kill the worker).
const replies = createCommandReplies({ onError: (error) => console.error('Purl worker:', error) });

let dbPromise: Promise<PurlDatabase> | null = null;
const getDb = (): Promise<PurlDatabase> => {
  if (dbPromise) return dbPromise;
  const opening: Promise<PurlDatabase> = openPurlDB({ onBlocking: () => (dbPromise = null), onBlocked: () => replies.storageBlocked(opening) });
  dbPromise = opening.catch((error: unknown) => {
    dbPromise = null;
    throw error;
  });
  return dbPromise;
};

const channel = new BroadcastChannel(CHANNEL_NAME);
/** Background work started outside an event (a cache revalidation, a breaker save) still gets one. */
let currentEvent: ExtendableEvent | undefined;

const core = createCore({
  origin: self.location.origin,
  fetch: (request, init) => fetch(request, init),
  getDb,
  broadcast: (event) => channel.postMessage(event),
  now: Date.now,
  random: Math.random,
  randomUUID: () => crypto.randomUUID(),
  isOnline: () => self.navigator.onLine,
  loadOverrides: createOverridesSource(fetch.bind(self), new URL('/config.json', self.location.origin).href),
  waitUntil: (promise) => {
    try {
      currentEvent?.waitUntil(promise);
    } catch {
      // The event already finished; the promise runs as long as the worker does.
    }
  },
});

self.addEventListener('activate', (event) => event.waitUntil(retireOldCopies(caches)));

self.addEventListener('message', (event) => {
  if (!isCommand(event.data)) return;
  if (event.data.type === 'skip-waiting') {
    event.waitUntil(self.skipWaiting());
    return;
  }
  currentEvent = event;
  event.waitUntil(replies.answer(event.ports[0], core.handle(event.data)));
});

// The browser is online again (perhaps with no Purl tab left): send what waits in the
// outbox. A rejection makes the browser fire the event again later.
self.addEventListener('sync', (event: Event) => {
  const sync = event as SyncEvent;
  if (sync.tag !== OUTBOX_SYNC_TAG) return;
  currentEvent = sync;
  sync.waitUntil(core.drainOutbox());
});
