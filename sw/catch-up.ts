/**
 * Catching up after an outage: the moment the server answers again (the breaker's probe
 * got through, or the gateway's health check says it is back), the polls backing off
 * after errors are due at once at their base interval and messages waiting out their
 * retry backoff go at once, instead of after the backoff the outage built up. Calls made
 * while one runs share it.
 */
import type { PollKind } from '../src/shared/network';
import type { Poller } from './poller';

export interface CatchUpOptions {
  poller: Pick<Poller<undefined>, 'tick' | 'retryFailed'>;
  /** Each poll's base interval now, ms. */
  baseMs: (kind: PollKind) => number;
  /** Makes messages waiting out a retry backoff due now. */
  retryOutbox: () => Promise<void>;
  now: () => number;
  /** Asks for a round of what is due (not awaited: the caller may be inside one). */
  requestRound: () => void;
}

export function createCatchUp(options: CatchUpOptions): () => Promise<void> {
  let running: Promise<void> | null = null;

  async function catchUp(): Promise<void> {
    // Polls refused while the probe was out finish first, so their backoff does not undo this.
    await options.poller.tick(undefined);
    await Promise.all([options.poller.retryFailed(options.now(), options.baseMs), options.retryOutbox()]);
    options.requestRound();
  }

  return () =>
    (running ??= catchUp()
      .catch(() => {
        // The next event runs what is due anyway; catching up early is a courtesy.
      })
      .finally(() => {
        running = null;
      }));
}
