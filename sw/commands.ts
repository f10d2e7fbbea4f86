/**
 * What each command from a tab does (src/shared/messages.ts): which parts it asks, and
 * what the tab waits for. Every command first waits for the worker's start (its settings
 * and saved state read once); a command that starts background work answers the tab as
 * soon as what the tab needs is done, and keeps the worker alive for the rest.
 */
import type { PurlDatabase } from '../src/shared/db';
import { isQuotaExceeded } from '../src/shared/errors';
import type { Command, PurlEvent } from '../src/shared/messages';
import type { Chat } from './chat';
import type { Poller } from './poller';
import type { Push } from './push';
import type { Settings } from './settings';
import type { Sync } from './sync';

export interface CommandsOptions {
  /** The worker's start: settings and saved state, read once (every command waits for it). */
  load: () => Promise<PurlDatabase>;
  /** An event for the wake loop: runs what is due. */
  tick: () => Promise<void>;
  /** Loads the data on a first visit (nothing once a sync has succeeded). */
  firstVisit: () => Promise<void>;
  /** Drains the outbox now. */
  drainOutbox: () => Promise<void>;
  /** The monitor's figures follow the mode (the intervals in force). */
  reportMode: () => void;
  settings: Pick<Settings, 'setHighLoad'>;
  poller: Pick<Poller<undefined>, 'noteTab' | 'forgetTab' | 'nextDueAt'>;
  sync: Pick<Sync, 'refresh' | 'selectAgent'>;
  chat: Pick<Chat, 'enqueue' | 'discard' | 'openSession' | 'retryNow'>;
  push: Pick<Push, 'handle'>;
  broadcast: (event: PurlEvent) => void;
  now: () => number;
  /** Keeps the worker alive for work the tab is not kept waiting for. */
  waitUntil?: (promise: Promise<unknown>) => void;
}

/**
 * The command runner. When a command failed because the browser has no room left, every
 * tab is told (the failure cannot be written to IndexedDB, where tabs read everything else).
 */
export function createCommands(options: CommandsOptions): (command: Command) => Promise<void> {
  const { load, tick, poller, sync, chat, broadcast } = options;
  const tellIfFull = (error: unknown) => {
    if (isQuotaExceeded(error)) broadcast({ type: 'storage-full' });
  };

  async function setHighLoad(on: boolean): Promise<void> {
    const db = await load();
    await options.settings.setHighLoad(db, on);
    options.reportMode();
    broadcast({ type: 'data-changed', stores: ['meta'] });
    // The monitor shows the intervals of the new mode at once.
    await poller.nextDueAt();
  }

  async function run(command: Command): Promise<void> {
    switch (command.type) {
      case 'heartbeat':
        await load();
        await options.firstVisit();
        await poller.noteTab({ tabId: command.tabId, visible: command.visible, active: command.active, seenAt: options.now() });
        return tick();
      case 'tab-closed':
        await load();
        return poller.forgetTab(command.tabId);
      case 'refresh':
        // Sent when the device comes back online (or the user asks): messages waiting out a
        // backoff go now too, not when it ends.
        await load();
        await Promise.all([sync.refresh('user').catch(() => undefined), chat.retryNow()]);
        return tick();
      case 'select-agent':
        await load();
        return sync.selectAgent(command.agentId);
      case 'send-message': {
        await load();
        await chat.enqueue(command);
        // The page is answered once the message is saved; sending goes on in the background.
        // Drained at once as well: the loop may be waiting on a slow poll before it drains again.
        const sending = Promise.all([options.drainOutbox(), tick()]).catch(() => {
          // The outbox item records a failed attempt; the next heartbeat's tick runs (and reports) the rest.
        });
        options.waitUntil?.(sending);
        return;
      }
      case 'discard-message':
        await load();
        return chat.discard(command.clientId);
      case 'open-chat':
        await load();
        await chat.openSession(command.agentId, 'user').catch(() => undefined);
        return tick();
      case 'set-high-load':
        return setHighLoad(command.on);
      case 'skip-waiting':
        return;
      case 'push': {
        await load();
        await options.push.handle(command);
        // The holding tab is answered once the event is applied (it sends the next one then,
        // and sends this one again if no answer comes): the polls it brings due run on.
        // Not the event's failure if they fail (it is applied), but every tab must still hear of a full disk.
        options.waitUntil?.(tick().catch(tellIfFull));
        return;
      }
      default: {
        const unhandled: never = command;
        throw new Error(`unhandled command ${JSON.stringify(unhandled)}`);
      }
    }
  }

  return async (command) => {
    try {
      await run(command);
    } catch (error) {
      tellIfFull(error);
      throw error;
    }
  };
}
