/**
 * The resend protocol for typed messages. A message is kept in the unsent store first,
 * then handed to the worker, which answers once it is in its outbox (IndexedDB); only
 * then is it forgotten here. A failed or unanswered hand-over is tried again with a
 * growing delay (the clientId makes a repeat harmless), so a worker that was starting
 * or stopping, a browser with no room left, or a database held by an old tab loses
 * nothing; a reload, or the next Purl tab, picks up what a closed tab left.
 * Messages are handed over one at a time, oldest first, so the outbox gets them in order.
 */
import { PurlError, type PurlErrorCode } from '../shared/errors';
import type { SendMessageCommand, UnsentStore } from './unsent';
import { within } from './within';

export interface OutgoingOptions {
  store: UnsentStore;
  /** Hands a message to the worker; resolves once it is in the outbox, rejects with a PurlError saying why not. */
  ask: (command: SendMessageCommand) => Promise<void>;
  /**
   * Asked when the worker did not answer: is the message in IndexedDB all the same (an
   * older worker that does not answer, or one stopped after saving)?
   */
  isSaved?: (clientId: string) => Promise<boolean>;
  /** The worker saved a message: it waits in the outbox (Background Sync is registered here). */
  onSaved?: () => void;
  now: () => number;
  randomUUID: () => string;
  /** Delays between tries: the first, doubled each time, up to the most. */
  retry?: { initialMs: number; maxMs: number };
}

interface Pending {
  command: SendMessageCommand;
  /** The sender's promise, settled by the first try. */
  settle?: { resolve: (clientId: string) => void; reject: (error: PurlError) => void };
}

const RETRY = { initialMs: 1_000, maxMs: 30_000 };
/** How long the look in IndexedDB may take: the page's own open may wait on an old tab, and the protocol must not wait with it. */
const IS_SAVED_TIMEOUT_MS = 5_000;

function codeOf(error: unknown): PurlErrorCode {
  return error instanceof PurlError ? error.code : 'worker-failed';
}

export class Outgoing {
  readonly #options: OutgoingOptions;
  readonly #retry: { initialMs: number; maxMs: number };
  /** Not confirmed yet, in the order they go (Map keeps insertion order). */
  readonly #pending = new Map<string, Pending>();
  #isPumping = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  #lastCreatedAt = 0;

  constructor(options: OutgoingOptions) {
    this.#options = options;
    this.#retry = options.retry ?? RETRY;
  }

  /**
   * Keeps a typed message and hands it to the worker. Resolves with its clientId once it
   * is in the outbox; rejects with the first failure's reason (a PurlError), while the
   * message stays kept and is tried again.
   */
  send(agentId: string, text: string): Promise<string> {
    // Strictly increasing, so two messages typed within a millisecond keep their order.
    const createdAt = Math.max(this.#options.now(), this.#lastCreatedAt + 1);
    this.#lastCreatedAt = createdAt;
    const command: SendMessageCommand = { type: 'send-message', clientId: this.#options.randomUUID(), agentId, text, createdAt };
    this.#options.store.keep(command);
    const saved = new Promise<string>((resolve, reject) => {
      this.#pending.set(command.clientId, { command, settle: { resolve, reject } });
    });
    this.#pumpNow();
    return saved;
  }

  /** Hands over every kept message (typed before a reload, or in a tab since closed). */
  resume(): void {
    for (const command of this.#options.store.list()) {
      if (!this.#pending.has(command.clientId)) this.#pending.set(command.clientId, { command });
      this.#lastCreatedAt = Math.max(this.#lastCreatedAt, command.createdAt);
    }
    this.#pumpNow();
  }

  #pumpNow(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    void this.#pump();
  }

  async #pump(): Promise<void> {
    // One hand-over at a time; a call meanwhile is covered by the loop.
    if (this.#isPumping) return;
    this.#isPumping = true;
    try {
      for (const [clientId, pending] of this.#pending) {
        const problem = await this.#handOver(pending.command);
        if (problem) {
          this.#options.store.setProblem(clientId, problem);
          pending.settle?.reject(new PurlError(problem));
          delete pending.settle;
          this.#retryLater();
          return;
        }
        this.#pending.delete(clientId);
        this.#failures = 0;
        this.#options.store.forget(clientId);
        pending.settle?.resolve(clientId);
        this.#options.onSaved?.();
      }
    } finally {
      this.#isPumping = false;
    }
  }

  /** One try; resolves undefined once the worker has the message, or why not. */
  async #handOver(command: SendMessageCommand): Promise<PurlErrorCode | undefined> {
    try {
      await this.#options.ask(command);
      return undefined;
    } catch (error) {
      const code = codeOf(error);
      if (code !== 'no-answer' || !this.#options.isSaved) return code;
      const isSaved = await within(
        this.#options.isSaved(command.clientId).catch(() => false),
        IS_SAVED_TIMEOUT_MS,
        () => false,
      );
      return isSaved ? undefined : code;
    }
  }

  #retryLater(): void {
    const delay = Math.min(this.#retry.initialMs * 2 ** this.#failures, this.#retry.maxMs);
    this.#failures += 1;
    this.#timer = setTimeout(() => this.#pumpNow(), delay);
  }
}
