/**
 * The push stream (docs/push.md), held by one tab per browser: the leader, elected with
 * the Web Lock `purl-push`. A service worker cannot keep a stream: Chromium stops it
 * after 30 s without an event, and hidden tabs' heartbeats come every 30 s or less often
 * (docs/sw-stream.md). A tab is not stopped while open, and when it closes the lock passes
 * to the next tab at once. The leader hands every event to the worker, which checks it
 * and writes IndexedDB (this tab writes nothing); each such message also wakes a stopped
 * worker.
 */
import { apiPaths, type ChatSession } from '../shared/api';
import type { PurlDatabase } from '../shared/db';
import type { Command, PurlEvent } from '../shared/messages';

/** The named events of the gateway's stream; anything else is not passed on. */
export const PUSH_EVENTS = ['hello', 'message', 'reset', 'upstream', 'memories'] as const;

/** The part of EventSource the holder uses (a fake in unit tests). */
export interface Stream {
  readonly readyState: number;
  addEventListener(type: string, listener: (event: MessageEvent<string>) => void): void;
  onerror: ((event: Event) => void) | null;
  close(): void;
}

export interface PushHolderOptions {
  /** Where to subscribe now, or undefined when there is nothing to subscribe to. */
  target: () => Promise<string | undefined>;
  open: (url: string) => Stream;
  send: (command: Extract<Command, { type: 'push' }>) => void;
  setTimer: (callback: () => void, ms: number) => () => void;
}

export interface PushHolder {
  /** This tab leads: open the stream (if there is anything to subscribe to). */
  start(): Promise<void>;
  /** The session may have changed: reopen when the stream's target did. */
  retarget(): Promise<void>;
  stop(): void;
}

/** EventSource's readyState when it gave up (an HTTP error, not an event stream): it will not reconnect by itself. */
const CLOSED = 2;
/** Reopening after the stream gave up: 2 s, doubling, at most a minute. */
const REOPEN = { firstMs: 2_000, maxMs: 60_000 };

/** The subscription part of a target (without the replay position), to tell whether it changed. */
function subscriptionOf(url: string): string {
  return new URL(url, 'http://purl.invalid').searchParams.getAll('session').join(',');
}

export function createPushHolder(options: PushHolderOptions): PushHolder {
  let stream: Stream | undefined;
  let openedFor: string | undefined;
  let cancelReopen: (() => void) | undefined;
  let reopenMs = REOPEN.firstMs;
  let stopped = false;
  /** Whether the worker was last told the stream is down (said once per outage, not per retry). */
  let saidDown = false;

  const down = () => {
    if (saidDown) return;
    saidDown = true;
    options.send({ type: 'push', event: 'down' });
  };

  function close(): void {
    cancelReopen?.();
    cancelReopen = undefined;
    stream?.close();
    stream = undefined;
    openedFor = undefined;
  }

  async function open(): Promise<void> {
    close();
    if (stopped) return;
    const url = await options.target();
    if (stopped || stream) return;
    if (url === undefined) {
      down();
      return;
    }
    const opened = options.open(url);
    stream = opened;
    openedFor = subscriptionOf(url);
    for (const name of PUSH_EVENTS) {
      opened.addEventListener(name, (event) => {
        if (name === 'hello') {
          reopenMs = REOPEN.firstMs;
          saidDown = false;
        }
        options.send({ type: 'push', event: name, ...(event.lastEventId ? { id: event.lastEventId } : {}), data: event.data });
      });
    }
    opened.onerror = () => {
      // This tab is going away (stop): the stream's end is not an outage, and the next leader says hello at once.
      if (stopped) return;
      down();
      // A dropped connection is retried by EventSource itself (1 s, from the last event id);
      // a refusal (an HTTP error) is not: open again later, with a fresh target.
      if (opened.readyState !== CLOSED || stream !== opened) return;
      stream = undefined;
      cancelReopen = options.setTimer(() => void open(), reopenMs);
      reopenMs = Math.min(reopenMs * 2, REOPEN.maxMs);
    };
  }

  return {
    start: open,
    async retarget() {
      if (stopped) return;
      const url = await options.target();
      if ((url === undefined ? undefined : subscriptionOf(url)) !== openedFor || (!stream && !cancelReopen)) await open();
    },
    stop() {
      stopped = true;
      close();
    },
  };
}

/** The stream's URL for the session in IndexedDB, from the last event id the worker kept. */
export async function pushTarget(db: PurlDatabase): Promise<string | undefined> {
  const [session, lastEventId] = await Promise.all([db.get('meta', 'chatSession'), db.get('meta', 'pushLastEventId')]);
  const chat = session as ChatSession | undefined;
  if (!chat?.pushToken) return undefined;
  return apiPaths.push({ ...chat, pushToken: chat.pushToken }, typeof lastEventId === 'string' ? lastEventId : undefined);
}

export interface StartPushOptions {
  getDb: () => Promise<PurlDatabase>;
  send: (command: Command) => void;
  /** Calls back with each of the worker's broadcasts. */
  onWorkerEvent: (listener: (event: PurlEvent) => void) => void;
}

/** Joins the election; the tab that wins holds the stream until it closes. */
export function startPush(options: StartPushOptions): void {
  if (!('locks' in navigator) || typeof EventSource === 'undefined') return;
  const holder = createPushHolder({
    target: async () => pushTarget(await options.getDb()),
    open: (url) => new EventSource(url),
    send: options.send,
    setTimer: (callback, ms) => {
      const timer = setTimeout(callback, ms);
      return () => clearTimeout(timer);
    },
  });
  // A closing leader tab is not push going down (which would bring the chat poll forward for nothing).
  addEventListener('pagehide', (event) => {
    if (!event.persisted) holder.stop();
  });
  void navigator.locks.request(
    'purl-push',
    () =>
      new Promise<never>(() => {
        void holder.start();
        options.onWorkerEvent((event) => {
          if (event.type === 'data-changed' && event.stores.includes('meta')) void holder.retarget();
        });
      }),
  );
}
