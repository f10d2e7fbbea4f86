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
import { CHANNEL_NAME, isCommand } from '../src/shared/messages';
import { createOverridesSource } from './config-source';
import { createCore } from './core';
import { retireOldCopies } from './fresh-cache';

declare const self: ServiceWorkerGlobalScope & { __WB_MANIFEST: Array<string | { url: string; revision: string | null }> };

cleanupOutdatedCaches();
precacheAndRoute(self.__WB_MANIFEST);
registerRoute(
  new NavigationRoute(createHandlerBoundToURL('index.html'), {
    denylist: [/^\/api\//, /^\/socket\.io\//, /^\/config\.json$/],
  }),
);
// The first install takes control of open pages at once; later versions wait for the
// user to accept the update prompt (a 'skip-waiting' command).
clientsClaim();

let dbPromise: Promise<PurlDatabase> | null = null;
const getDb = (): Promise<PurlDatabase> =>
  (dbPromise ??= openPurlDB({ onBlocking: () => (dbPromise = null) }).catch((error: unknown) => {
    dbPromise = null;
    throw error;
  }));

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
  event.waitUntil(
    core.handle(event.data).catch((error: unknown) => {
      // A failed command must not kill the worker; the sync status already says why.
      console.error('Purl worker:', error);
    }),
  );
});
