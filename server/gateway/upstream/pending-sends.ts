/**
 * The users' messages sent over the upstream socket and not yet acknowledged, each by the
 * fresh `messageId` it was sent with, on an injected clock (its timers are the only I/O).
 * ElizaOS answers its sender with the message's echo (a broadcast, the row's time) and
 * then `messageAck` (the row's id): together they make the outcome `stored`.
 */
import type { Clock } from '../../../src/shared/clock';

/**
 * How a send ended: `stored` (ElizaOS acknowledged it; `id` and `createdAt` are the stored
 * row's), `timeout` (no acknowledgement in time), `down` (the socket was not up, or dropped
 * before the acknowledgement), `failed` (ElizaOS answered `messageError` meanwhile). Only
 * `stored` says the message is kept; after any other, it may or may not be.
 */
export type SendOutcome = { kind: 'stored'; id: string; createdAt: number } | { kind: 'timeout' } | { kind: 'down' } | { kind: 'failed'; error: string };

interface PendingSend {
  clientMessageId: string | undefined;
  /** The echo ElizaOS sends its sender before the acknowledgement: the row's time. */
  createdAt?: number;
  settle(outcome: SendOutcome): void;
}

/** The sends awaiting their acknowledgement. */
export class PendingSends {
  readonly #clock: Clock;
  readonly #sends = new Map<string, PendingSend>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Awaits the acknowledgement of the send made with `messageId`: settles with its outcome, `timeout` after `timeoutMs`; never rejects. */
  start(messageId: string, clientMessageId: string | undefined, timeoutMs: number): Promise<SendOutcome> {
    return new Promise<SendOutcome>((resolve) => {
      const cancel = this.#clock.setTimer(() => send.settle({ kind: 'timeout' }), timeoutMs);
      const send: PendingSend = {
        clientMessageId,
        settle: (outcome) => {
          if (this.#sends.get(messageId) !== send) return;
          this.#sends.delete(messageId);
          cancel();
          resolve(outcome);
        },
      };
      this.#sends.set(messageId, send);
    });
  }

  /** The echo of the send made with `messageId` came, with the row's time: its browser's clientMessageId, when it is one of these and has one. */
  echoed(messageId: string, createdAt: number): string | undefined {
    const send = this.#sends.get(messageId);
    if (!send) return undefined;
    send.createdAt = createdAt;
    return send.clientMessageId;
  }

  /** ElizaOS stored the send made with `messageId` as `rowId`: `stored`, at the echo's time (or now without one). */
  acknowledged(messageId: string, rowId: string): void {
    const send = this.#sends.get(messageId);
    send?.settle({ kind: 'stored', id: rowId, createdAt: send.createdAt ?? this.#clock.now() });
  }

  /** Settles every send under way with `outcome`. */
  settleAll(outcome: SendOutcome): void {
    for (const send of [...this.#sends.values()]) send.settle(outcome);
  }

  get size(): number {
    return this.#sends.size;
  }
}
