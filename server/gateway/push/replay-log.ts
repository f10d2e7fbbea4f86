/**
 * The events this gateway heard, kept per channel for replay (docs/push.md, "Replay"): a
 * pure log, no I/O, no timers, time passed in through `now` (epoch ms).
 *
 * Every message heard on a joined channel gets the next number of this gateway start's
 * epoch (`<epoch>.<seq>`, the stream's event id). A browser that comes back with the last
 * id it saw is given what it missed, in order, or told `reset` for a session when that
 * cannot be done:
 * - the id is of another epoch (another gateway start), or ahead of anything given;
 * - the channel was never joined, or was joined again since (after a reconnect upstream:
 *   what was said in between was not heard);
 * - what it missed is no longer kept (past `keepEvents` of the channel, or `keepMs` old).
 *
 * Each channel knows from which number on it is complete (`completeFrom`): every message
 * after it is still kept, so a replay may start there or later.
 */
import { parseEventId } from './push-query';

/** A message as kept for replay. */
export interface KeptEvent {
  readonly seq: number;
  /** When it was heard, epoch ms. */
  readonly at: number;
  /** The message, as JSON. */
  readonly json: string;
}

export interface ReplayLogOptions {
  /** This gateway start's epoch: 12 lower-case hex digits. */
  epoch: string;
  now: () => number;
  /** Events kept per channel (default 100). */
  keepEvents?: number;
  /** How long an event is kept, ms (default 10 min). */
  keepMs?: number;
}

/** What a returning browser is told first: the sessions to read once, then the events it missed, in order. */
export interface Replay {
  reset: string[];
  events: { sessionId: string; event: KeptEvent }[];
}

interface ChannelLog {
  events: KeptEvent[];
  /** Every message of the channel heard after this number is still in `events`. */
  completeFrom: number;
}

function validateOptions(options: ReplayLogOptions): void {
  if (!/^[0-9a-f]{12}$/.test(options.epoch)) throw new RangeError(`ReplayLog: epoch must be 12 hex digits: ${JSON.stringify(options.epoch)}`);
  if (options.keepEvents !== undefined && (!Number.isSafeInteger(options.keepEvents) || options.keepEvents < 0)) {
    throw new RangeError(`ReplayLog: keepEvents is out of range: ${String(options.keepEvents)}`);
  }
  if (options.keepMs !== undefined && (!Number.isFinite(options.keepMs) || options.keepMs < 0)) {
    throw new RangeError(`ReplayLog: keepMs is out of range: ${String(options.keepMs)}`);
  }
}

/** The channels' kept events under one epoch. */
export class ReplayLog {
  readonly epoch: string;
  readonly #now: () => number;
  readonly #keepEvents: number;
  readonly #keepMs: number;
  /** The last number given (0: none yet). */
  #seq = 0;
  readonly #channels = new Map<string, ChannelLog>();

  /** @throws RangeError for an option out of range. */
  constructor(options: ReplayLogOptions) {
    validateOptions(options);
    this.epoch = options.epoch;
    this.#now = options.now;
    this.#keepEvents = options.keepEvents ?? 100;
    this.#keepMs = options.keepMs ?? 10 * 60_000;
  }

  /** The id of the last event given: a stream's `hello` carries it. */
  get position(): string {
    return `${this.epoch}.${this.#seq}`;
  }

  /** The stream's event id of `event`. */
  idOf(event: KeptEvent): string {
    return `${this.epoch}.${event.seq}`;
  }

  /** True while the channel has a log (joined once, and not swept since). */
  has(channelId: string): boolean {
    return this.#channels.has(channelId);
  }

  /**
   * ElizaOS confirmed a join of the channel: its messages are kept from now on. `again`
   * when it was joined before: what was said since the last join was not heard, so every
   * stream of it should be told `reset`.
   */
  join(channelId: string): 'first' | 'again' {
    const log = this.#channels.get(channelId);
    if (!log) {
      this.#channels.set(channelId, { events: [], completeFrom: this.#seq });
      return 'first';
    }
    log.completeFrom = this.#seq;
    return 'again';
  }

  /** Keeps a message heard on the channel under the next number; undefined (nothing kept) for a channel never joined. */
  append(channelId: string, json: string): KeptEvent | undefined {
    const log = this.#channels.get(channelId);
    if (!log) return undefined;
    const event: KeptEvent = { seq: ++this.#seq, at: this.#now(), json };
    log.events.push(event);
    this.#prune(log);
    return event;
  }

  /**
   * What a browser that saw `lastEventId` is told for its sessions (channel → session id):
   * nothing without an id; else a `reset` for each session that cannot be replayed and the
   * events of the others after that id, in the order they were heard.
   */
  replay(lastEventId: string | undefined, sessions: ReadonlyMap<string, string>): Replay {
    if (lastEventId === undefined) return { reset: [], events: [] };
    const id = parseEventId(lastEventId);
    const reset: string[] = [];
    const events: Replay['events'] = [];
    for (const [channelId, sessionId] of sessions) {
      const log = this.#channels.get(channelId);
      if (log) this.#prune(log);
      if (!id || id.epoch !== this.epoch || id.n > this.#seq || !log || id.n < log.completeFrom) {
        reset.push(sessionId);
        continue;
      }
      for (const event of log.events) if (event.seq > id.n) events.push({ sessionId, event });
    }
    events.sort((a, b) => a.event.seq - b.event.seq);
    return { reset, events };
  }

  /** Drops what is past the window everywhere, and the logs of channels no longer wanted once they are empty. */
  sweep(isWanted: (channelId: string) => boolean): void {
    for (const [channelId, log] of this.#channels) {
      this.#prune(log);
      if (log.events.length === 0 && !isWanted(channelId)) this.#channels.delete(channelId);
    }
  }

  /** Drops what is past the window or the count; what is dropped can no longer be replayed. */
  #prune(log: ChannelLog): void {
    const oldest = this.#now() - this.#keepMs;
    let drop = Math.max(0, log.events.length - this.#keepEvents);
    while (drop < log.events.length && log.events[drop]!.at < oldest) drop++;
    if (drop === 0) return;
    log.completeFrom = Math.max(log.completeFrom, log.events[drop - 1]!.seq);
    log.events.splice(0, drop);
  }
}
