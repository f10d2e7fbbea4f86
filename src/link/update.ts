/**
 * The update prompt's state: a new version of Purl is installed and waits for the
 * user's go-ahead (the worker never swaps under the user). UpdatePrompt shows it.
 */
import type { Workbox } from 'workbox-window';
import { Subscribable } from '../data/subscribable';
import type { Command } from '../shared/messages';

let waitingWorker: ServiceWorker | null = null;
let emitUpdate: ((ready: boolean) => void) | null = null;

/** True while a new version of Purl is installed and waiting for the user's go-ahead. */
export const updateReady = new Subscribable<boolean>((emit) => {
  emitUpdate = emit;
  if (waitingWorker) emit(true);
  return () => (emitUpdate = null);
});

export function isUpdateWaiting(): boolean {
  return waitingWorker !== null;
}

/** Activates the waiting version; the page reloads when it takes control (register.ts). */
export function acceptUpdate(): void {
  waitingWorker?.postMessage({ type: 'skip-waiting' } satisfies Command);
}

/** Listens for a version that installs and waits. */
export function watchForUpdates(workbox: Workbox): void {
  workbox.addEventListener('waiting', (event) => {
    waitingWorker = event.sw ?? null;
    emitUpdate?.(true);
  });
}
