/**
 * The unsent store: where a typed message waits until the worker has confirmed it is
 * in the outbox. It is localStorage, which survives a reload, which every tab sees (the
 * `storage` event), and which stays writable when IndexedDB is full or cannot be opened
 * yet. When the browser blocks localStorage, or it is full, the message waits in this
 * tab's memory instead. Entries that are not a valid command are ignored.
 */
import { Subscribable } from '../data/subscribable';
import type { PurlErrorCode } from '../shared/errors';
import { isCommand, type Command } from '../shared/messages';

export type SendMessageCommand = Extract<Command, { type: 'send-message' }>;

/** A message the worker has not confirmed, and why, when the last try to save it failed. */
export interface UnsentMessage extends SendMessageCommand {
  problem?: PurlErrorCode;
}

export const UNSENT_PREFIX = 'purl-unsent-';

export interface UnsentStoreOptions {
  /** The browser's localStorage; throws when the browser blocks it (privacy settings). */
  storage: () => Storage;
  /** Another tab changed the storage: `listener(key)`; returns how to stop listening. */
  onOtherTab?: (listener: (key: string | null) => void) => () => void;
}

export class UnsentStore {
  readonly #storage: () => Storage;
  /** This tab's messages that localStorage could not take. */
  readonly #memory = new Map<string, SendMessageCommand>();
  /** Why the last try to save each message failed (this tab's tries only). */
  readonly #problems = new Map<string, PurlErrorCode>();
  readonly #listeners = new Set<(messages: UnsentMessage[]) => void>();
  /** The unsent messages, as they change in this tab or another. */
  readonly changes: Subscribable<UnsentMessage[]>;

  constructor(options: UnsentStoreOptions) {
    this.#storage = options.storage;
    this.changes = new Subscribable((emit) => {
      this.#listeners.add(emit);
      const stop = options.onOtherTab?.((key) => {
        if (key === null || key.startsWith(UNSENT_PREFIX)) emit(this.list());
      });
      return () => {
        this.#listeners.delete(emit);
        stop?.();
      };
    });
  }

  /** Every tab's unsent messages, oldest first (the order they were typed in). */
  list(): UnsentMessage[] {
    const found = new Map<string, SendMessageCommand>();
    try {
      const storage = this.#storage();
      for (let i = 0; i < storage.length; i += 1) {
        const key = storage.key(i);
        if (!key?.startsWith(UNSENT_PREFIX)) continue;
        const command = parse(storage.getItem(key));
        if (command) found.set(command.clientId, command);
      }
    } catch {
      // Storage blocked: only this tab's memory holds its messages.
    }
    for (const [clientId, command] of this.#memory) found.set(clientId, command);
    return [...found.values()]
      .sort((a, b) => a.createdAt - b.createdAt || (a.clientId < b.clientId ? -1 : 1))
      .map((command) => {
        const problem = this.#problems.get(command.clientId);
        return problem ? { ...command, problem } : command;
      });
  }

  /** Keeps a message until {@link forget}; called before it is handed to the worker. */
  keep(command: SendMessageCommand): void {
    try {
      this.#storage().setItem(UNSENT_PREFIX + command.clientId, JSON.stringify(command));
    } catch {
      // Storage blocked or full: the message waits in this tab's memory.
      this.#memory.set(command.clientId, command);
    }
    this.#announce();
  }

  /** The worker confirmed the message is in its outbox. */
  forget(clientId: string): void {
    this.#memory.delete(clientId);
    this.#problems.delete(clientId);
    try {
      this.#storage().removeItem(UNSENT_PREFIX + clientId);
    } catch {
      // Storage blocked: it was only in memory.
    }
    this.#announce();
  }

  /** Records why the last try to save a message failed, or that it no longer fails. */
  setProblem(clientId: string, problem: PurlErrorCode | undefined): void {
    if (this.#problems.get(clientId) === problem) return;
    if (problem) this.#problems.set(clientId, problem);
    else this.#problems.delete(clientId);
    this.#announce();
  }

  #announce(): void {
    const messages = this.list();
    for (const listener of [...this.#listeners]) listener(messages);
  }
}

function parse(raw: string | null): SendMessageCommand | undefined {
  try {
    const value: unknown = JSON.parse(raw ?? 'null');
    return isCommand(value) && value.type === 'send-message' ? value : undefined;
  } catch {
    // Damaged: the other entries still count.
    return undefined;
  }
}
