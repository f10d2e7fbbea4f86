import { describe, expect, it } from 'vitest';
import type { PurlDatabase } from '../src/shared/db';
import type { Command } from '../src/shared/messages';
import { createCommands, type CommandsOptions } from './commands';

const full = () => new DOMException('Quota exceeded.', 'QuotaExceededError');

/** Commands over fakes: each part logs what it is asked; `background` holds what the worker was kept alive for. */
function harness(overrides: Partial<CommandsOptions> = {}) {
  const log: string[] = [];
  const events: unknown[] = [];
  const background: Promise<unknown>[] = [];
  const note = (what: string) => async () => void log.push(what);
  const handle = createCommands({
    load: async () => {
      log.push('load');
      return {} as PurlDatabase;
    },
    tick: note('tick'),
    firstVisit: note('first visit'),
    drainOutbox: note('drain'),
    reportMode: () => void log.push('mode'),
    settings: { setHighLoad: async (_db, on) => void log.push(`high load ${on}`) },
    poller: {
      noteTab: async (tab) => void log.push(`tab ${tab.tabId} at ${tab.seenAt}`),
      forgetTab: async (tabId) => void log.push(`forget ${tabId}`),
      nextDueAt: async () => void log.push('next due'),
    },
    sync: {
      refresh: async (priority) => {
        log.push(`refresh ${priority}`);
        return 'unchanged';
      },
      selectAgent: note('select'),
    },
    chat: { enqueue: note('enqueue'), discard: note('discard'), openSession: note('open'), retryNow: note('retry now') },
    push: { handle: note('push') },
    broadcast: (event) => void events.push(event),
    now: () => 7,
    waitUntil: (promise) => void background.push(promise),
    ...overrides,
  });
  return { handle, log, events, background };
}

const heartbeat: Command = { type: 'heartbeat', tabId: 't1', visible: true, active: true };

describe('the commands', () => {
  it('waits for the worker’s start, then notes a heartbeat’s tab on the clock and runs what is due', async () => {
    const { handle, log } = harness();
    await handle(heartbeat);
    expect(log).toEqual(['load', 'first visit', 'tab t1 at 7', 'tick']);
  });

  it('answers a typed message once it is saved, and sends it in the background at once', async () => {
    const { handle, log, background } = harness();
    await handle({ type: 'send-message', clientId: 'c1', agentId: 'a1', text: 'Hi', createdAt: 1 });
    expect(log.slice(0, 2)).toEqual(['load', 'enqueue']);
    expect(background).toHaveLength(1);
    await Promise.all(background);
    expect(log).toEqual(['load', 'enqueue', 'drain', 'tick']);
  });

  it('retries waiting messages on a refresh even when the sync fails', async () => {
    const { handle, log } = harness({ sync: { refresh: () => Promise.reject(new Error('down')), selectAgent: async () => undefined } });
    await handle({ type: 'refresh' });
    expect(log).toEqual(['load', 'retry now', 'tick']);
  });

  it('switches high load, reporting the new intervals to the monitor and every tab', async () => {
    const { handle, log, events } = harness();
    await handle({ type: 'set-high-load', on: true });
    expect(log).toEqual(['load', 'high load true', 'mode', 'next due']);
    expect(events).toEqual([{ type: 'data-changed', stores: ['meta'] }]);
  });

  it('answers a push event once it is applied, and tells every tab of a full disk met by the polls it brings due', async () => {
    const { handle, log, events, background } = harness({
      tick: async () => {
        log.push('tick');
        throw full();
      },
    });
    await handle({ type: 'push', event: 'down' });
    expect(log).toEqual(['load', 'push', 'tick']);
    await Promise.all(background);
    expect(events).toEqual([{ type: 'storage-full' }]);
  });

  it('tells every tab when a command failed because the browser has no room left, and rejects with the failure', async () => {
    const error = full();
    const { handle, events } = harness({
      poller: { noteTab: () => Promise.reject(error), forgetTab: async () => undefined, nextDueAt: async () => undefined },
    });
    await expect(handle(heartbeat)).rejects.toBe(error);
    expect(events).toEqual([{ type: 'storage-full' }]);
  });

  it('tells no one of a failure that is not a full disk', async () => {
    const error = new Error('boom');
    const { handle, events } = harness({
      chat: { enqueue: () => Promise.reject(error), discard: async () => undefined, openSession: async () => undefined, retryNow: async () => undefined },
    });
    await expect(handle({ type: 'send-message', clientId: 'c1', agentId: 'a1', text: 'Hi', createdAt: 1 })).rejects.toBe(error);
    expect(events).toEqual([]);
  });
});
