/**
 * The page's side of the worker: registration with workbox-window, the update prompt,
 * commands, and the heartbeat that tells the worker this tab is alive.
 */
import { Workbox } from 'workbox-window';
import { getDb } from './data/sources';
import { Subscribable } from './data/subscribable';
import type { Command } from './shared/messages';

const HEARTBEAT_VISIBLE_MS = 5_000;
const HEARTBEAT_HIDDEN_MS = 30_000;
const ACTIVE_WINDOW_MS = 5 * 60_000;

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

/** Sends a command to the worker that serves this origin (once there is one). */
export async function sendCommand(command: Command): Promise<void> {
  if (!('serviceWorker' in navigator)) return;
  const registration = await navigator.serviceWorker.ready;
  registration.active?.postMessage(command);
}

/** Typed messages the worker has not confirmed yet, by clientId. */
const unconfirmed = new Map<string, Extract<Command, { type: 'send-message' }>>();
let confirmTimer: ReturnType<typeof setInterval> | undefined;

async function isKnownToWorker(clientId: string): Promise<boolean> {
  const db = await getDb();
  return (await db.getKey('outbox', clientId)) !== undefined || (await db.getKeyFromIndex('chat', 'by-client', clientId)) !== undefined;
}

/** Re-sends unconfirmed messages until the worker has written each one down. */
async function confirmOrResend(): Promise<void> {
  for (const [clientId, command] of unconfirmed) {
    if (await isKnownToWorker(clientId).catch(() => false)) unconfirmed.delete(clientId);
    else void sendCommand(command);
  }
  if (unconfirmed.size === 0) {
    clearInterval(confirmTimer);
    confirmTimer = undefined;
  }
}

/**
 * Hands a typed message to the worker's outbox. The clientId makes repeating the
 * command harmless, so it is repeated until the message is in IndexedDB: a worker that
 * was starting or stopping when the user pressed Send cannot lose it.
 */
export function sendMessage(agentId: string, text: string): string {
  const command = { type: 'send-message', clientId: crypto.randomUUID(), agentId, text, createdAt: Date.now() } as const;
  unconfirmed.set(command.clientId, command);
  void sendCommand(command);
  confirmTimer ??= setInterval(() => void confirmOrResend(), 1_000);
  return command.clientId;
}

/** Activates the waiting version; the page reloads when it takes control. */
export function acceptUpdate(): void {
  waitingWorker?.postMessage({ type: 'skip-waiting' } satisfies Command);
}

function startHeartbeat(): void {
  const tabId = crypto.randomUUID();
  let lastInputAt = Date.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const beat = () => {
    clearTimeout(timer);
    const visible = document.visibilityState === 'visible';
    void sendCommand({ type: 'heartbeat', tabId, visible, active: Date.now() - lastInputAt < ACTIVE_WINDOW_MS });
    timer = setTimeout(beat, visible ? HEARTBEAT_VISIBLE_MS : HEARTBEAT_HIDDEN_MS);
  };
  for (const type of ['pointerdown', 'keydown', 'scroll'] as const) {
    addEventListener(type, () => (lastInputAt = Date.now()), { passive: true, capture: true });
  }
  document.addEventListener('visibilitychange', beat);
  addEventListener('online', () => void sendCommand({ type: 'refresh' }));
  // A closed tab stops counting for the poll cadence at once, not 75 s later.
  addEventListener('pagehide', (event) => {
    if (!event.persisted) void sendCommand({ type: 'tab-closed', tabId });
  });
  beat();
}

/** Switches this browser (every tab) to high-load mode: slower polls, fewer requests at once. */
export function enableHighLoadMode(): Promise<void> {
  return sendCommand({ type: 'set-high-load', on: true });
}

/** Switches this browser back to normal mode. */
export function disableHighLoadMode(): Promise<void> {
  return sendCommand({ type: 'set-high-load', on: false });
}

/**
 * `?highload=true|false` in the URL, else `localStorage.highLoadMode`, read at page
 * start; anything else is reported and ignored.
 */
function applyRequestedMode(): void {
  const fromUrl = new URLSearchParams(location.search).get('highload');
  let fromStorage: string | null = null;
  try {
    fromStorage = localStorage.getItem('highLoadMode');
  } catch {
    // Storage blocked (privacy settings): the URL and the switch still work.
  }
  const requested = fromUrl ?? fromStorage;
  if (requested === null) return;
  if (requested !== 'true' && requested !== 'false') {
    console.error(`Purl: high-load mode must be "true" or "false", got "${requested}"; the mode is unchanged.`);
    return;
  }
  void sendCommand({ type: 'set-high-load', on: requested === 'true' });
}

export function registerWorker(): void {
  if (!('serviceWorker' in navigator)) return;
  const workbox = new Workbox(import.meta.env.DEV ? '/dev-sw.js?dev-sw' : '/sw.js', {
    type: import.meta.env.DEV ? 'module' : 'classic',
  });
  workbox.addEventListener('waiting', (event) => {
    waitingWorker = event.sw ?? null;
    emitUpdate?.(true);
  });
  // A new version took control (this tab or another accepted the update): reload so the
  // page runs the code that matches its worker. Workbox's own 'controlling' event does
  // not fire for updates found outside this page's register() call, so listen directly.
  // The first install's claim (no controller before) needs no reload.
  let wasControlled = navigator.serviceWorker.controller !== null;
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    if (wasControlled) location.reload();
    wasControlled = true;
  });
  void workbox.register().catch((error: unknown) => {
    console.error('Purl could not start its service worker:', error);
  });
  Object.assign(window, { enableHighLoadMode, disableHighLoadMode });
  applyRequestedMode();
  startHeartbeat();
}
