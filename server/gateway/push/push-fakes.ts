/**
 * Fakes for the push route's unit tests: an upstream socket driven by hand, responses that
 * keep what is written to them (the clock: src/shared/clock.ts `manualClock`). Not used at run time.
 */
import type { ServerResponse } from 'node:http';
import type { PushedMessage, SendOutcome, UpstreamSocket, UpstreamState } from '../upstream/upstream-socket';

export class FakeUpstream implements UpstreamSocket {
  current: UpstreamState = 'up';
  readonly joined = new Set<string>();
  /** Channel → open subscriptions. */
  readonly subscriptions = new Map<string, number>();
  closed = false;
  readonly #onMessage = new Set<(channelId: string, message: PushedMessage) => void>();
  readonly #onState = new Set<(state: UpstreamState) => void>();
  readonly #onJoined = new Set<(channelId: string) => void>();

  subscribe(channelId: string): () => void {
    this.subscriptions.set(channelId, (this.subscriptions.get(channelId) ?? 0) + 1);
    return () => this.subscriptions.set(channelId, this.subscriptions.get(channelId)! - 1);
  }
  onMessage(listener: (channelId: string, message: PushedMessage) => void) {
    this.#onMessage.add(listener);
    return () => void this.#onMessage.delete(listener);
  }
  onState(listener: (state: UpstreamState) => void) {
    this.#onState.add(listener);
    return () => void this.#onState.delete(listener);
  }
  onJoined(listener: (channelId: string) => void) {
    this.#onJoined.add(listener);
    return () => void this.#onJoined.delete(listener);
  }
  onRemoved() {
    return () => {};
  }
  send(): Promise<SendOutcome> {
    return Promise.resolve({ kind: 'down' });
  }
  wake() {}
  isJoined(channelId: string) {
    return this.joined.has(channelId);
  }
  state() {
    return this.current;
  }
  stats() {
    return { state: this.current, since: 0, channels: this.joined.size, broadcasts: 0, dropped: 0 };
  }
  close() {
    this.closed = true;
  }

  /** ElizaOS confirms the join of `channelId`. */
  join(channelId: string): void {
    this.joined.add(channelId);
    for (const listener of this.#onJoined) listener(channelId);
  }
  /** ElizaOS broadcasts `message` on `channelId`. */
  say(channelId: string, message: PushedMessage): void {
    for (const listener of this.#onMessage) listener(channelId, message);
  }
  setState(state: UpstreamState): void {
    this.current = state;
    for (const listener of this.#onState) listener(state);
  }
}

/** One event as EventSource reads it (comments as event ':'). */
export interface ReadEvent {
  id?: string;
  event: string;
  data: string;
  retry?: number;
}

/** A response that keeps what is written; `events()` reads it as EventSource would. */
export class FakeResponse {
  readonly written: string[] = [];
  status: number | undefined;
  headers: Record<string, string> = {};
  headersSent = false;
  destroyed = false;
  ended = false;
  writableLength = 0;
  socket = { setNoDelay: () => {} };
  readonly #onClose: (() => void)[] = [];

  writeHead(status: number, headers: Record<string, string>) {
    this.status = status;
    this.headers = headers;
    this.headersSent = true;
  }
  write(chunk: string) {
    this.written.push(chunk);
  }
  end(chunk?: string) {
    if (chunk !== undefined) this.written.push(chunk);
    this.ended = true;
  }
  destroy() {
    this.destroyed = true;
  }
  on(event: string, listener: () => void) {
    if (event === 'close') this.#onClose.push(listener);
    return this;
  }
  /** The browser goes away. */
  close(): void {
    this.destroyed = true;
    for (const listener of this.#onClose) listener();
  }
  asResponse(): ServerResponse {
    return this as unknown as ServerResponse;
  }

  events(): ReadEvent[] {
    const events: ReadEvent[] = [];
    for (const block of this.written.join('').split('\n\n')) {
      const event: { id?: string; event?: string; data: string[]; retry?: number; comment?: string } = { data: [] };
      for (const line of block.split('\n').filter((line) => line !== '')) {
        const colon = line.indexOf(':');
        const [name, value] = [line.slice(0, colon), line.slice(colon + 2)];
        if (colon === 0) event.comment = line.slice(2);
        else if (name === 'id') event.id = value;
        else if (name === 'event') event.event = value;
        else if (name === 'data') event.data.push(value);
        else if (name === 'retry') event.retry = Number(value);
      }
      if (event.comment !== undefined) events.push({ event: ':', data: event.comment });
      else if (event.data.length > 0)
        events.push({
          ...(event.id === undefined ? {} : { id: event.id }),
          event: event.event ?? 'message',
          data: event.data.join('\n'),
          ...(event.retry === undefined ? {} : { retry: event.retry }),
        });
    }
    return events;
  }
}

let counter = 0;
/** A message as the upstream socket hands it on. */
export function pushedMessage(content = `reply ${++counter}`): PushedMessage {
  return {
    id: `dddddddd-0000-4000-8000-${String(++counter).padStart(12, '0')}`,
    content,
    authorId: '2a6e1e0c-4b7f-4c55-9c1a-1f0e0a7b3c11',
    isAgent: true,
    createdAt: 1_700_000_000_000 + counter,
    metadata: {},
  };
}
