/**
 * Reads under way, shared by everyone who asks for the same key meanwhile (nginx's
 * `proxy_cache_lock`): the first asker starts the read, the others join it, and when every
 * one of them has left before it settled (a hung or crawling server), the read is aborted
 * and forgotten, so the next asker starts afresh instead of joining a read that may hang
 * until the upstream timeout.
 */

interface Flight<T> {
  outcome: Promise<T>;
  waiting: number;
  abort: AbortController;
}

/** One asker's place in a read: its outcome, and `leave` to call if it goes before that settles. */
export interface Joined<T> {
  outcome: Promise<T>;
  leave(): void;
  /** It joined a read already under way (none was started for it). */
  isCoalesced: boolean;
}

export class Flights<T> {
  readonly #flights = new Map<string, Flight<T>>();

  /** Reads under way. */
  get size(): number {
    return this.#flights.size;
  }

  /**
   * Joins the read of `key` under way, or starts one with `start` (given the signal that
   * says everyone left); the read is forgotten once it settles.
   */
  join(key: string, start: (signal: AbortSignal) => Promise<T>): Joined<T> {
    const running = this.#flights.get(key);
    const flight = running ?? this.#start(key, start);
    flight.waiting += 1;
    let isGone = false;
    const leave = () => {
      if (isGone) return;
      isGone = true;
      flight.waiting -= 1;
      if (flight.waiting === 0 && this.#flights.get(key) === flight) {
        this.#flights.delete(key);
        flight.abort.abort();
      }
    };
    // Settled: leaving now changes nothing.
    void flight.outcome.then(
      () => {
        isGone = true;
      },
      () => {
        isGone = true;
      },
    );
    return { outcome: flight.outcome, leave, isCoalesced: running !== undefined };
  }

  #start(key: string, start: (signal: AbortSignal) => Promise<T>): Flight<T> {
    const abort = new AbortController();
    const flight: Flight<T> = { outcome: Promise.resolve() as Promise<T>, waiting: 0, abort };
    flight.outcome = start(abort.signal).finally(() => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    });
    this.#flights.set(key, flight);
    return flight;
  }
}
