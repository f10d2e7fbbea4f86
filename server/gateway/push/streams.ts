/**
 * The open push streams: who listens to which channel, and how many streams each client
 * holds. Plain bookkeeping, no I/O: the push route adds a stream when it opens and removes
 * it when its response closes.
 */
import type { SseWriter } from './sse';

/** One browser's stream. */
export interface PushStream {
  readonly sse: SseWriter;
  /** Channel → the session it belongs to. */
  readonly sessions: ReadonlyMap<string, string>;
}

/** The streams the push logs write to: by channel, or all of them. */
export interface Listeners {
  /** The streams that listen to `channelId`: a message costs its own listeners, not every open stream (bench/push-fanout.ts). */
  of(channelId: string): Iterable<PushStream>;
  all(): Iterable<PushStream>;
  /** The channels some stream listens to. */
  channels(): Iterable<string>;
  isListened(channelId: string): boolean;
}

const NONE: ReadonlySet<PushStream> = new Set();

/** The open streams, by channel and by client. */
export class StreamRegistry implements Listeners {
  readonly #streams = new Set<PushStream>();
  readonly #listening = new Map<string, Set<PushStream>>();
  readonly #perClient = new Map<string, number>();

  get size(): number {
    return this.#streams.size;
  }

  /** Open streams of `client`. */
  countOf(client: string): number {
    return this.#perClient.get(client) ?? 0;
  }

  /** A stream of `client` opened: it listens to its sessions' channels. */
  add(stream: PushStream, client: string): void {
    this.#perClient.set(client, this.countOf(client) + 1);
    this.#streams.add(stream);
    for (const channelId of stream.sessions.keys()) {
      const listeners = this.#listening.get(channelId);
      if (listeners) listeners.add(stream);
      else this.#listening.set(channelId, new Set([stream]));
    }
  }

  /** The stream closed (once; again is nothing). */
  remove(stream: PushStream, client: string): void {
    if (!this.#streams.delete(stream)) return;
    for (const channelId of stream.sessions.keys()) {
      const listeners = this.#listening.get(channelId);
      listeners?.delete(stream);
      if (listeners?.size === 0) this.#listening.delete(channelId);
    }
    const count = this.countOf(client) - 1;
    if (count > 0) this.#perClient.set(client, count);
    else this.#perClient.delete(client);
  }

  of(channelId: string): Iterable<PushStream> {
    return this.#listening.get(channelId) ?? NONE;
  }

  all(): Iterable<PushStream> {
    return this.#streams;
  }

  channels(): Iterable<string> {
    return this.#listening.keys();
  }

  isListened(channelId: string): boolean {
    return this.#listening.has(channelId);
  }
}
