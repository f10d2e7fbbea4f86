/**
 * One-off Background Sync for the outbox (Chromium only): once a message waits in the
 * outbox, the browser is asked to wake the worker when it is online, so a message typed
 * just before the last tab closed (or while offline) still leaves. Elsewhere the worker
 * sends it the next time a Purl tab is open.
 */
import { OUTBOX_SYNC_TAG } from '../shared/messages';

/** The part of `SyncManager` (https://wicg.github.io/background-sync/spec/) used here; not in TypeScript's DOM lib. */
interface SyncManagerLike {
  register(tag: string): Promise<void>;
}

export async function registerOutboxSync(): Promise<void> {
  if (!('serviceWorker' in navigator)) return;
  const registration = (await navigator.serviceWorker.ready) as ServiceWorkerRegistration & { sync?: SyncManagerLike };
  await registration.sync?.register(OUTBOX_SYNC_TAG).catch(() => {
    // Refused (permission, or no active worker yet): the worker still sends while a tab is open.
  });
}
