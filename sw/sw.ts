/// <reference lib="webworker" />
/**
 * The service worker: wiring only. Precache the shell, serve navigations from it,
 * and route page commands to the sync logic. All requests to the agent's API are
 * made here, never by pages.
 */
import { clientsClaim } from 'workbox-core';
import { cleanupOutdatedCaches, createHandlerBoundToURL, precacheAndRoute } from 'workbox-precaching';
import { NavigationRoute, registerRoute } from 'workbox-routing';
import { openPurlDB, type PurlDatabase } from '../src/shared/db';
import { CHANNEL_NAME, isCommand, type Command, type PurlEvent } from '../src/shared/messages';
import { createApiFetcher } from './api-strategy';
import { createConfigSource } from './config-source';
import { createSync } from './sync';

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
const config = createConfigSource(fetch.bind(self), new URL('/config.json', self.location.origin).href);
const fetchApi = createApiFetcher(self.location.origin);

const sync = createSync<ExtendableEvent>({
  getDb,
  fetchApi,
  broadcast: (message: PurlEvent) => channel.postMessage(message),
  now: Date.now,
  intervalMs: async () => (await config()).memoriesPollMs,
});

function handle(command: Command, event: ExtendableMessageEvent): Promise<void> {
  switch (command.type) {
    case 'heartbeat':
      return sync.onHeartbeat(event);
    case 'refresh':
      return sync.refresh(event);
    case 'select-agent':
      return sync.selectAgent(command.agentId, event);
    case 'skip-waiting':
      return self.skipWaiting();
    default: {
      const unhandled: never = command;
      throw new Error(`unhandled command ${JSON.stringify(unhandled)}`);
    }
  }
}

self.addEventListener('message', (event) => {
  if (!isCommand(event.data)) return;
  event.waitUntil(
    handle(event.data, event).catch((error: unknown) => {
      // A failed command must not kill the worker; the sync status already says why.
      console.error('Purl worker:', error);
    }),
  );
});
