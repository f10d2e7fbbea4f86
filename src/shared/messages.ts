/**
 * What pages and the worker say to each other. Plain, structured-clone-safe data,
 * handled with exhaustive switches.
 */
import type { MetricsSnapshot } from './network';

/** The stores a page may be told to re-read. */
export type StoreName = 'agents' | 'memories' | 'meta' | 'chat' | 'outbox';

/** The BroadcastChannel every tab and the worker share. */
export const CHANNEL_NAME = 'purl';

/**
 * The Background Sync tag a page registers when a message waits in the outbox: the
 * browser then wakes the worker to send it when it is online, even with no tab open.
 */
export const OUTBOX_SYNC_TAG = 'purl-outbox';

/**
 * Page → worker, through `postMessage` on the active worker. A command sent with a
 * MessageChannel port (workbox-window's `messageSW`) is answered there with a
 * {@link CommandReply} once the worker has done it.
 */
export type Command =
  /** "This tab is alive": drives the refresh schedule. */
  | { type: 'heartbeat'; tabId: string; visible: boolean; active: boolean }
  /** The user asked for fresh data now. */
  | { type: 'refresh' }
  | { type: 'select-agent'; agentId: string }
  /** The tab is going away (pagehide): stop counting it for the poll cadence. */
  | { type: 'tab-closed'; tabId: string }
  /** Queue a typed message (idempotent by clientId: re-sending the command is harmless). */
  | { type: 'send-message'; clientId: string; agentId: string; text: string; createdAt: number }
  /** Drop a message the server refused for good. */
  | { type: 'discard-message'; clientId: string }
  /** The chat view is open: make sure a session exists, so its poll runs. */
  | { type: 'open-chat'; agentId: string }
  /** This browser's high-load mode, applied to every tab. */
  | { type: 'set-high-load'; on: boolean }
  /** The user accepted the update prompt. */
  | { type: 'skip-waiting' }
  /**
   * From the tab that holds the push stream (src/link/push.ts): one event of the gateway's
   * stream as it came (`data` is checked by the worker), or `down` when the stream broke.
   */
  | { type: 'push'; event: string; id?: string; data?: string };

/** Longest push event a tab hands on, characters (a message is at most a few KB; the rest is not Purl's). */
export const MAX_PUSH_DATA = 256 * 1024;

/** Worker → every tab, on the BroadcastChannel. */
export type PurlEvent =
  /** These stores changed: re-read them from IndexedDB. */
  | { type: 'data-changed'; stores: ReadonlyArray<StoreName> }
  /** The monitor's figures (also in IndexedDB, meta 'metrics'); at most once a second. */
  | { type: 'metrics'; snapshot: MetricsSnapshot }
  /**
   * The worker could not save because the browser has no room left for Purl. Not stored
   * (it could not be): sent again with each failed command while storage stays full.
   */
  | { type: 'storage-full' };

/** Why the worker could not do a command. */
export type CommandFailure =
  /** The browser has no room left for Purl's data. */
  | 'storage-full'
  /** The worker waits to open its database: an older Purl tab keeps it open. */
  | 'storage-blocked'
  /** Anything else (the worker logs it). */
  | 'worker-failed';

/** Worker → the page that asked, on the command's MessageChannel port. */
export type CommandReply = { ok: true } | { ok: false; failure: CommandFailure };

const commandFailures: ReadonlySet<string> = new Set<CommandFailure>(['storage-full', 'storage-blocked', 'worker-failed']);

/** Validates the worker's answer to a command (an older worker may answer nothing, or something else). */
export function isCommandReply(value: unknown): value is CommandReply {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  if (record['ok'] === true) return true;
  return record['ok'] === false && typeof record['failure'] === 'string' && commandFailures.has(record['failure']);
}

const commandTypes: ReadonlySet<string> = new Set<Command['type']>([
  'heartbeat',
  'refresh',
  'select-agent',
  'tab-closed',
  'send-message',
  'discard-message',
  'open-chat',
  'set-high-load',
  'skip-waiting',
  'push',
]);

/** Validates a message from a page; anything else is ignored by the worker. */
export function isCommand(value: unknown): value is Command {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  if (typeof record['type'] !== 'string' || !commandTypes.has(record['type'])) return false;
  switch (record['type']) {
    case 'heartbeat':
      return typeof record['tabId'] === 'string' && typeof record['visible'] === 'boolean' && typeof record['active'] === 'boolean';
    case 'select-agent':
      return typeof record['agentId'] === 'string' && record['agentId'].length > 0;
    case 'tab-closed':
      return typeof record['tabId'] === 'string';
    case 'send-message':
      return (
        typeof record['clientId'] === 'string' &&
        record['clientId'].length > 0 &&
        typeof record['agentId'] === 'string' &&
        typeof record['text'] === 'string' &&
        typeof record['createdAt'] === 'number' &&
        Number.isFinite(record['createdAt'])
      );
    case 'discard-message':
      return typeof record['clientId'] === 'string';
    case 'open-chat':
      return typeof record['agentId'] === 'string' && record['agentId'].length > 0;
    case 'set-high-load':
      return typeof record['on'] === 'boolean';
    case 'push':
      return (
        typeof record['event'] === 'string' &&
        record['event'].length <= 20 &&
        (record['id'] === undefined || (typeof record['id'] === 'string' && record['id'].length <= 60)) &&
        (record['data'] === undefined || (typeof record['data'] === 'string' && record['data'].length <= MAX_PUSH_DATA))
      );
    default:
      return true;
  }
}

export function isPurlEvent(value: unknown): value is PurlEvent {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  if (record['type'] === 'data-changed') return Array.isArray(record['stores']);
  if (record['type'] === 'storage-full') return true;
  return record['type'] === 'metrics' && typeof record['snapshot'] === 'object' && record['snapshot'] !== null;
}
