/**
 * The push stream (docs/push.md), held by one tab per browser: the leader, elected with
 * the Web Lock `purl-push`. A service worker cannot keep a stream: Chromium stops it
 * after 30 s without an event, and hidden tabs' heartbeats come every 30 s or less often
 * (docs/sw-stream.md). A tab is not stopped while open, and when it closes the lock passes
 * to the next tab at once. The leader hands every event to the worker, which checks it
 * and writes IndexedDB (this tab writes nothing); each such message also wakes a stopped
 * worker. The worker answers each event once it has applied it; one it did not answer
 * (stopped while applying it, or while the message was on its way) is sent again, and
 * the events go one at a time, in order.
 */
import { apiPaths, type ChatSession } from '../shared/api';
import type { PurlDatabase } from '../shared/db';
import { PurlError } from '../shared/errors';
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
  /** Sends a command and settles with the worker's answer (`askWorker`). */
  ask: (command: Command, timeoutMs: number) => Promise<void>;
  /** Calls back with each of the worker's broadcasts. */
  onWorkerEvent: (listener: (event: PurlEvent) => void) => void;
}

type PushCommandOut = Extract<Command, { type: 'push' }>;

export interface PushDeliveryOptions {
  /** Sends one command and settles with the worker's answer (rejects with a PurlError; `askWorker`). */
  ask: (command: PushCommandOut) => Promise<void>;
  /** Something was given up: the console hears why. */
  onDropped: (command: PushCommandOut, error: unknown) => void;
}

/** Tries per event: a worker that has not answered three times in a row is not coming back for it (the chat poll's safety net is). */
export const PUSH_ATTEMPTS = 3;
/** Events waiting for the worker at most; beyond that the oldest go (a worker that long silent is broken, and a tab must not grow without end). */
export const PUSH_BACKLOG = 500;

/**
 * Hands the stream's events to the worker in order, one at a time, each sent again until
 * the worker says it has applied it. Only silence is retried: a worker that answered
 * with a failure saw the event (an event it rejects as malformed, or storage that is
 * full) and would answer the same again. Events are idempotent in the worker (messages
 * are kept by their server id), so an event applied whose answer was lost costs nothing.
 */
export function createPushDelivery(options: PushDeliveryOptions): (command: PushCommandOut) => void {
  const backlog: PushCommandOut[] = [];
  let running = false;

  async function deliver(command: PushCommandOut): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await options.ask(command);
        return;
      } catch (error) {
        const silent = error instanceof PurlError && error.code === 'no-answer';
        // 'storage-blocked': the worker has the event and runs it once its database opens.
        if (error instanceof PurlError && error.code === 'storage-blocked') return;
        if (!silent || attempt >= PUSH_ATTEMPTS) {
          options.onDropped(command, error);
          return;
        }
      }
    }
  }

  async function run(): Promise<void> {
    running = true;
    try {
      for (let next = backlog[0]; next; next = backlog[0]) {
        await deliver(next);
        if (backlog[0] === next) backlog.shift();
      }
    } finally {
      running = false;
    }
  }

  return (command) => {
    backlog.push(command);
    if (backlog.length > PUSH_BACKLOG) options.onDropped(backlog.splice(1, 1)[0]!, new Error('too many events waiting for the worker'));
    if (!running) void run();
  };
}

/** How long the worker may take to answer one event (it may be starting and opening its database) before it is sent again. */
export const PUSH_ANSWER_MS = 3_000;

/** Joins the election; the tab that wins holds the stream until it closes. */
export function startPush(options: StartPushOptions): void {
  if (!('locks' in navigator) || typeof EventSource === 'undefined') return;
  const holder = createPushHolder({
    target: async () => pushTarget(await options.getDb()),
    open: (url) => new EventSource(url),
    send: createPushDelivery({
      ask: (command) => options.ask(command, PUSH_ANSWER_MS),
      onDropped: (command, error) => console.warn(`Purl's worker did not take a pushed ${command.event} event:`, error),
    }),
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
