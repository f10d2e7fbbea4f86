/**
 * Catching up after an outage: the moment the server answers again (the breaker's probe
 * got through, or the gateway's health check says it is back), the polls backing off
 * after errors are due at once at their base interval and messages waiting out their
 * retry backoff go at once, instead of after the backoff the outage built up. Calls made
 * while one runs share it.
 */
import type { BreakerView, PollKind } from '../src/shared/network';
import type { Poller } from './poller';
import type { WakeJob } from './wake-loop';

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

export interface ProbeJobOptions {
  poller: Pick<Poller<undefined>, 'retryFailed'>;
  /** The breaker as it stands now (sw/gate.ts `view`). */
  breaker: () => BreakerView;
  baseMs: (kind: PollKind) => number;
  now: () => number;
}

/**
 * The breaker's probe, on time: when an open breaker's timeout passes, the polls backing
 * off after errors are made due then, so the first of them is the probe. Without this the
 * probe waited for their backoff, which by then can be far longer than the timeout (a
 * memories poll failing five times from 60 s backs off up to 30 minutes; the breaker's
 * timeout is 5). Once per opening: a failed probe reopens the breaker with a new
 * `openedAt`, and this runs again at its next timeout; a worker that restarted runs it for
 * the breaker it restored.
 */
export function createProbeJob(options: ProbeJobOptions): WakeJob {
  /** The `openedAt` of the opening whose probe the polls were made due for. */
  let madeDueFor: number | undefined;
  const opening = () => {
    const view = options.breaker();
    return view.state === 'closed' || view.openedAt === madeDueFor ? undefined : view;
  };
  return {
    name: 'probe',
    runsOnEvent: false,
    dueAt: () => opening()?.nextProbeAt,
    async run() {
      const view = opening();
      if (!view || options.now() < view.nextProbeAt) return;
      madeDueFor = view.openedAt;
      await options.poller.retryFailed(options.now(), options.baseMs);
    },
  };
}
