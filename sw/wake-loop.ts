/**
 * When the worker next wakes, decided in one place. Each job (the polls, the outbox, the
 * health watch) says when it is next due, already held back by whatever holds it (the
 * gate's Retry-After and breaker probe, the outbox's pacing); the loop runs what is due,
 * then waits for the earliest deadline if it falls within the lookahead, inside the same
 * event (a worker's timers die with it, so deadlines beyond the lookahead are left to
 * the next event: a heartbeat, a message). It never wakes sooner than the earliest
 * deadline, so a job that cannot run yet cannot make it spin.
 *
 * Ticks that arrive while it runs merge into one more round (workbox's
 * `CacheExpiration` pattern), and cut a wait short.
 */

export interface WakeJob {
  /** For logs and tests. */
  name: string;
  /**
   * When the job is next due, epoch ms: Infinity (or undefined) when it has nothing to do
   * until an event. Read after every round.
   */
  dueAt(): number | undefined | Promise<number | undefined>;
  /** Runs the job. Failures are the job's own business: they are logged, not thrown. */
  run(): Promise<unknown>;
  /** Whether an event (a tick) runs the job even before its deadline: true for jobs whose state an event may change. */
  runsOnEvent: boolean;
}

export interface WakeLoopOptions {
  now: () => number;
  /** The jobs it starts with; more may be added (`add`) once the parts they need are built. */
  jobs?: readonly WakeJob[];
  /** How far ahead the loop waits for a deadline inside one event, ms. */
  lookaheadMs: number;
  /** Starts a timer and returns its canceller (default: setTimeout). */
  setTimer?: (callback: () => void, ms: number) => () => void;
  /**
   * How long one loop may run, ms (default 4 minutes). The loop holds the event that
   * started it open (`waitUntil`), and a browser stops a worker whose event runs for 5
   * minutes; so a loop kept going by a short cadence (health checks every second during
   * a long outage) ends in time, and the next event (a heartbeat) starts a new one.
   */
  maxRunMs?: number;
}

export interface WakeLoop {
  /** An event: runs every job that runs on events, and what is due; resolves when nothing is due within the lookahead. */
  tick(): Promise<void>;
  /** The earliest deadline after the last round, epoch ms (Infinity when nothing is due). */
  nextWakeAt(): number;
  /** Adds jobs, run from the next round on. */
  add(...jobs: WakeJob[]): void;
}

/** A wait shorter than this is rounded up: a deadline a hair in the future is not worth a round of its own. */
const MIN_WAIT_MS = 10;
/**
 * The wait when a round woken by its deadline leaves a job still due: that job did not
 * move its deadline on (a bug, or a race with another worker), and must not make the
 * loop spin.
 */
const STALLED_WAIT_MS = 1_000;

const defaultSetTimer = (callback: () => void, ms: number) => {
  const id = setTimeout(callback, ms);
  return () => clearTimeout(id);
};

export function createWakeLoop(options: WakeLoopOptions): WakeLoop {
  const { now, lookaheadMs } = options;
  const jobs: WakeJob[] = [...(options.jobs ?? [])];
  const setTimer = options.setTimer ?? defaultSetTimer;
  let running: Promise<void> | null = null;
  let rerunRequested = false;
  let wake: (() => void) | undefined;
  let nextAt = Number.POSITIVE_INFINITY;

  async function dueTimes(): Promise<number[]> {
    return Promise.all(jobs.map(async (job) => (await job.dueAt()) ?? Number.POSITIVE_INFINITY));
  }

  async function round(isEvent: boolean): Promise<void> {
    const due = await dueTimes();
    const at = now();
    await Promise.all(
      jobs.map(async (job, i) => {
        if (!(isEvent && job.runsOnEvent) && !(due[i]! <= at)) return;
        try {
          await job.run();
        } catch (error) {
          console.error(`Purl worker: ${job.name} failed`, error);
        }
      }),
    );
    nextAt = Math.min(...(await dueTimes()));
  }

  function sleep(ms: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const cancel = setTimer(() => {
        wake = undefined;
        resolve(false);
      }, ms);
      wake = () => {
        cancel();
        wake = undefined;
        resolve(true);
      };
    });
  }

  async function loop(): Promise<void> {
    let isEvent = true;
    const endBy = now() + (options.maxRunMs ?? 240_000);
    for (;;) {
      rerunRequested = false;
      await round(isEvent);
      if (rerunRequested) {
        isEvent = true;
        continue;
      }
      let wait = nextAt - now();
      if (!isEvent && wait <= 0) wait = STALLED_WAIT_MS;
      if (!(wait <= lookaheadMs) || now() + wait > endBy) {
        // Cleared in the same step as the last rerun check, so no tick is merged into a loop that has ended.
        running = null;
        return;
      }
      isEvent = await sleep(Math.max(wait, MIN_WAIT_MS));
    }
  }

  function tick(): Promise<void> {
    if (running) {
      rerunRequested = true;
      wake?.();
      return running;
    }
    const run = loop().catch((error: unknown) => {
      if (running === run) running = null;
      throw error;
    });
    running = run;
    return run;
  }

  return {
    tick,
    nextWakeAt: () => nextAt,
    add: (...more) => {
      jobs.push(...more);
    },
  };
}
