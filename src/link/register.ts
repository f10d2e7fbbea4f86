/**
 * Registers the service worker (workbox-window) and starts this tab's side of it: the
 * update prompt and periodic update checks, the reload when a new version takes
 * control, high-load mode from the URL, the heartbeat, the push stream (when this tab
 * is elected to hold it), and the messages earlier tabs left unsaved.
 */
import { Workbox } from 'workbox-window';
import { getDb, workerEvents } from '../data/sources';
import { askWorker } from './commands';
import { startHeartbeat } from './heartbeat';
import { applyRequestedMode, disableHighLoadMode, enableHighLoadMode } from './high-load';
import { startPush } from './push';
import { resumeUnsent } from './send';
import { watchForUpdates } from './update';
import { startUpdateChecks } from './update-check';

export function registerWorker(): void {
  if (!('serviceWorker' in navigator)) return;
  const workbox = new Workbox(import.meta.env.DEV ? '/dev-sw.js?dev-sw' : '/sw.js', {
    type: import.meta.env.DEV ? 'module' : 'classic',
  });
  watchForUpdates(workbox);
  // A new version took control (this tab or another accepted the update): reload so the
  // page runs the code that matches its worker. Workbox's own 'controlling' event does
  // not fire for updates found outside this page's register() call, so listen directly.
  // The first install's claim (no controller before) needs no reload.
  let wasControlled = navigator.serviceWorker.controller !== null;
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    if (wasControlled) location.reload();
    wasControlled = true;
  });
  void workbox
    .register()
    .then(() =>
      startUpdateChecks({
        update: () => workbox.update(),
        now: Date.now,
        isVisible: () => document.visibilityState === 'visible',
        onVisibilityChange: (listener) => {
          document.addEventListener('visibilitychange', listener);
          return () => document.removeEventListener('visibilitychange', listener);
        },
      }),
    )
    .catch((error: unknown) => {
      console.error('Purl could not start its service worker:', error);
    });
  Object.assign(window, { enableHighLoadMode, disableHighLoadMode });
  applyRequestedMode();
  startHeartbeat();
  startPush({ getDb, ask: askWorker, onWorkerEvent: (listener) => workerEvents.subscribe(listener) });
  resumeUnsent();
}
