import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PurlError } from '../shared/errors';
import { Outgoing, type OutgoingOptions } from './outgoing';
import { UNSENT_PREFIX, UnsentStore, type SendMessageCommand } from './unsent';

/** localStorage as the browser gives it, in memory; `blocked` makes every call throw, `full` every write. */
class FakeStorage implements Storage {
  readonly #items = new Map<string, string>();
  blocked = false;
  full = false;
  get length(): number {
    this.#check();
    return this.#items.size;
  }
  key(index: number): string | null {
    this.#check();
    return [...this.#items.keys()][index] ?? null;
  }
  getItem(key: string): string | null {
    this.#check();
    return this.#items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.#check();
    if (this.full) throw new DOMException('full', 'QuotaExceededError');
    this.#items.set(key, value);
  }
  removeItem(key: string): void {
    this.#check();
    this.#items.delete(key);
  }
  clear(): void {
    this.#items.clear();
  }
  #check(): void {
    if (this.blocked) throw new DOMException('blocked', 'SecurityError');
  }
}

/** A stand-in for the worker: answers each hand-over as told, and records what it saved. */
class FakeWorker {
  readonly saved: string[] = [];
  readonly asked: string[] = [];
  /** The next answers, in order: a failure code, or 'ok' (the default once empty). */
  answers: Array<'ok' | 'storage-full' | 'storage-blocked' | 'no-answer'> = [];
  /** What `ask` found in the unsent store at the moment of each hand-over. */
  readonly keptWhenAsked: boolean[] = [];
  constructor(readonly storage: FakeStorage) {}

  ask = async (command: SendMessageCommand): Promise<void> => {
    this.asked.push(command.text);
    this.keptWhenAsked.push(this.storage.blocked || this.storage.getItem(UNSENT_PREFIX + command.clientId) !== null);
    const answer = this.answers.shift() ?? 'ok';
    if (answer !== 'ok') throw new PurlError(answer);
    if (!this.saved.includes(command.text)) this.saved.push(command.text);
  };
}

let storage: FakeStorage;
let worker: FakeWorker;
let uuid = 0;

function tab(options: Partial<OutgoingOptions> = {}) {
  const store = new UnsentStore({ storage: () => storage });
  const outgoing = new Outgoing({ store, ask: worker.ask, now: Date.now, randomUUID: () => `id-${++uuid}`, ...options });
  return { store, outgoing };
}

const texts = (store: UnsentStore) => store.list().map((message) => message.text);

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
  storage = new FakeStorage();
  worker = new FakeWorker(storage);
  uuid = 0;
});
afterEach(() => vi.useRealTimers());

describe('the unsent store and the resend protocol', () => {
  it('keeps a message before handing it to the worker, and forgets it once the worker confirms', async () => {
    const { store, outgoing } = tab();
    const saved = outgoing.send('agent-1', 'hello');
    expect(texts(store)).toEqual(['hello']);
    await expect(saved).resolves.toBe('id-1');
    expect(worker.keptWhenAsked).toEqual([true]);
    expect(worker.saved).toEqual(['hello']);
    expect(store.list()).toEqual([]);
  });

  it('rejects the send with the reason, keeps the message, and hands it over again later', async () => {
    worker.answers = ['storage-full', 'storage-full'];
    const { store, outgoing } = tab();
    await expect(outgoing.send('agent-1', 'no room yet')).rejects.toMatchObject({ code: 'storage-full' });
    expect(store.list()).toMatchObject([{ text: 'no room yet', problem: 'storage-full' }]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(worker.asked).toEqual(['no room yet', 'no room yet']);
    // The delay doubles: nothing at 1 s more, the third try at 2 s.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(worker.asked).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(worker.saved).toEqual(['no room yet']);
    expect(store.list()).toEqual([]);
  });

  it('hands over, after a reload, what the tab kept before it went away', async () => {
    worker.answers = ['no-answer'];
    const before = tab();
    await before.outgoing.send('agent-1', 'typed before the reload').catch(() => undefined);
    expect(worker.saved).toEqual([]);
    vi.clearAllTimers(); // the tab is gone, and its retry timer with it
    const after = tab();
    expect(texts(after.store)).toEqual(['typed before the reload']);
    after.outgoing.resume();
    await vi.waitFor(() => expect(after.store.list()).toEqual([]));
    expect(worker.saved).toEqual(['typed before the reload']);
  });

  it('ignores damaged entries and entries that are not messages', async () => {
    storage.setItem(`${UNSENT_PREFIX}broken`, '{"type":"send-message",');
    storage.setItem(`${UNSENT_PREFIX}other`, JSON.stringify({ type: 'refresh' }));
    storage.setItem('purl-draft-agent-1', 'a draft');
    const { store, outgoing } = tab();
    outgoing.send('agent-1', 'good').catch(() => undefined);
    expect(texts(store)).toEqual(['good']);
    outgoing.resume();
    await vi.waitFor(() => expect(worker.saved).toEqual(['good']));
    expect(worker.asked).toEqual(['good']);
  });

  it('keeps messages in memory when the browser blocks storage', async () => {
    storage.blocked = true;
    worker.answers = ['storage-blocked'];
    const { store, outgoing } = tab();
    await expect(outgoing.send('agent-1', 'blocked storage')).rejects.toMatchObject({ code: 'storage-blocked' });
    expect(store.list()).toMatchObject([{ text: 'blocked storage', problem: 'storage-blocked' }]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(worker.saved).toEqual(['blocked storage']);
    expect(store.list()).toEqual([]);
  });

  it('keeps messages in memory when localStorage is full', async () => {
    storage.full = true;
    const { store, outgoing } = tab();
    const saved = outgoing.send('agent-1', 'full storage');
    expect(texts(store)).toEqual(['full storage']);
    await saved;
    expect(store.list()).toEqual([]);
  });

  it('hands messages over in the order typed, even within one millisecond and after a failure', async () => {
    worker.answers = ['no-answer'];
    const { store, outgoing } = tab();
    const all = ['one', 'two', 'three'].map((text) => outgoing.send('agent-1', text).catch(() => undefined));
    expect(texts(store)).toEqual(['one', 'two', 'three']);
    await vi.advanceTimersByTimeAsync(1_000);
    await Promise.all(all);
    expect(worker.asked).toEqual(['one', 'one', 'two', 'three']);
    expect(worker.saved).toEqual(['one', 'two', 'three']);
  });

  it('counts a message as saved when the worker did not answer but IndexedDB has it', async () => {
    worker.answers = ['no-answer'];
    const isSaved = vi.fn(async () => true);
    const { store, outgoing } = tab({ isSaved });
    await expect(outgoing.send('agent-1', 'saved, answer lost')).resolves.toBe('id-1');
    expect(isSaved).toHaveBeenCalledWith('id-1');
    expect(store.list()).toEqual([]);
  });

  it('does not wait for a look in IndexedDB that hangs (an old tab holds the database)', async () => {
    worker.answers = ['no-answer'];
    const { store, outgoing } = tab({ isSaved: () => new Promise<boolean>(() => undefined) });
    const saved = outgoing.send('agent-1', 'database held');
    const failed = expect(saved).rejects.toMatchObject({ code: 'no-answer' });
    await vi.advanceTimersByTimeAsync(5_000);
    await failed;
    expect(store.list()).toMatchObject([{ text: 'database held', problem: 'no-answer' }]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(worker.saved).toEqual(['database held']);
  });

  it('registers the outbox for Background Sync after each save', async () => {
    const onSaved = vi.fn();
    const { outgoing } = tab({ onSaved });
    await outgoing.send('agent-1', 'a');
    await outgoing.send('agent-1', 'b');
    expect(onSaved).toHaveBeenCalledTimes(2);
  });

  it('tells listeners when another tab adds or forgets a message', () => {
    let fromOtherTab: ((key: string | null) => void) | undefined;
    const onOtherTab = (listener: (key: string | null) => void) => {
      fromOtherTab = listener;
      return () => {
        fromOtherTab = undefined;
      };
    };
    const store = new UnsentStore({ storage: () => storage, onOtherTab });
    const seen: string[][] = [];
    const stop = store.changes.subscribe((messages) => seen.push(messages.map((message) => message.text)));
    const command = { type: 'send-message', clientId: 'x', agentId: 'agent-1', text: 'from the other tab', createdAt: 5 } as const;
    storage.setItem(`${UNSENT_PREFIX}x`, JSON.stringify(command));
    fromOtherTab?.(`${UNSENT_PREFIX}x`);
    fromOtherTab?.('purl-draft-agent-1');
    expect(seen).toEqual([['from the other tab']]);
    stop();
    expect(fromOtherTab).toBeUndefined();
  });
});
