/**
 * The page's side of the worker: registration with workbox-window, the update prompt,
 * commands, and the heartbeat that tells the worker this tab is alive.
 */
import { Workbox } from 'workbox-window';
import { getDb } from './data/sources';
import { Subscribable } from './data/subscribable';
import { isCommand, type Command } from './shared/messages';

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

export type SendMessageCommand = Extract<Command, { type: 'send-message' }>;

/** Typed messages the worker has not confirmed yet, by clientId. */
const unconfirmed = new Map<string, SendMessageCommand>();
let confirmTimer: ReturnType<typeof setInterval> | undefined;
let isConfirming = false;

/**
 * Where a typed message also waits until the worker has saved it: localStorage, which
 * survives a reload and which every tab sees, and which stays writable when IndexedDB
 * is full or cannot be opened yet (drafts live there too).
 */
const UNSENT_PREFIX = 'purl-unsent-';
const unsentListeners = new Set<(messages: SendMessageCommand[]) => void>();

/** Messages typed in any tab of this browser that the worker has not saved yet, oldest first. */
export function listUnsent(): SendMessageCommand[] {
  const found: SendMessageCommand[] = [];
  try {
    for (let i = 0; i < localStorage.length; i += 1) {
      const key = localStorage.key(i);
      if (!key?.startsWith(UNSENT_PREFIX)) continue;
      try {
        const value: unknown = JSON.parse(localStorage.getItem(key) ?? 'null');
        if (isCommand(value) && value.type === 'send-message') found.push(value);
      } catch {
        // Not ours, or damaged: the other entries still count.
      }
    }
  } catch {
    // Storage blocked (privacy settings): only this tab's memory holds its messages.
  }
  return found.sort((a, b) => a.createdAt - b.createdAt);
}

function keepUnsent(command: SendMessageCommand): void {
  try {
    localStorage.setItem(UNSENT_PREFIX + command.clientId, JSON.stringify(command));
  } catch {
    // Storage blocked or full: the message still waits in this tab's memory.
  }
  announceUnsent();
}

function forgetUnsent(clientId: string): void {
  try {
    localStorage.removeItem(UNSENT_PREFIX + clientId);
  } catch {
    // Storage blocked: there was nothing kept to forget.
  }
  announceUnsent();
}

function announceUnsent(): void {
  const messages = listUnsent();
  for (const listener of [...unsentListeners]) listener(messages);
}

/** The unsent messages, as they change in this tab or another (the `storage` event). */
export const unsentMessages = new Subscribable<SendMessageCommand[]>((emit) => {
  const onStorage = (event: StorageEvent) => {
    if (event.key === null || event.key.startsWith(UNSENT_PREFIX)) emit(listUnsent());
  };
  addEventListener('storage', onStorage);
  unsentListeners.add(emit);
  return () => {
    removeEventListener('storage', onStorage);
    unsentListeners.delete(emit);
  };
});

async function isKnownToWorker(clientId: string): Promise<boolean> {
  const db = await getDb();
  return (await db.getKey('outbox', clientId)) !== undefined || (await db.getKeyFromIndex('chat', 'by-client', clientId)) !== undefined;
}

/** Re-sends unconfirmed messages until the worker has written each one down. */
async function confirmOrResend(): Promise<void> {
  // One round at a time: a round waits as long as the database does (an old tab may hold it).
  if (isConfirming) return;
  isConfirming = true;
  try {
    for (const [clientId, command] of unconfirmed) {
      if (await isKnownToWorker(clientId).catch(() => false)) {
        unconfirmed.delete(clientId);
        forgetUnsent(clientId);
      } else {
        void sendCommand(command);
      }
    }
  } finally {
    isConfirming = false;
  }
  if (unconfirmed.size === 0) {
    clearInterval(confirmTimer);
    confirmTimer = undefined;
  }
}

function awaitConfirmation(command: SendMessageCommand): void {
  unconfirmed.set(command.clientId, command);
  void sendCommand(command);
  confirmTimer ??= setInterval(() => void confirmOrResend(), 1_000);
}

/**
 * Hands a typed message to the worker's outbox. The clientId makes repeating the
 * command harmless, so it is repeated until the message is in IndexedDB: a worker that
 * was starting or stopping when the user pressed Send cannot lose it, nor can a
 * browser with no room left in IndexedDB, nor a tab closed meanwhile (localStorage
 * keeps it, and the next Purl tab sends it on).
 */
export function sendMessage(agentId: string, text: string): string {
  const command = { type: 'send-message', clientId: crypto.randomUUID(), agentId, text, createdAt: Date.now() } as const;
  keepUnsent(command);
  awaitConfirmation(command);
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
  // Messages a tab typed and was closed before the worker saved them.
  for (const command of listUnsent()) awaitConfirmation(command);
}
