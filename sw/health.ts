/**
 * The health watch: while requests to the agent's API fail, the worker asks the gateway's
 * `GET /health` on a short cadence instead of knocking on the API, and learns the moment
 * the server is back. The gateway checks ElizaOS at most once a second for every user, so
 * this costs the server nothing per browser, and it is outside the API's rate limit.
 *
 * `/health` answers `{"status":"up"|"down","since":<epoch ms of the last change>,
 * "checkedAt":<epoch ms of the gateway's last check>}`. A gateway without it (a 404, or
 * an answer of another shape: an older gateway) is asked again only after a while, and
 * the worker then does what it did before: backoff and the breaker.
 *
 * Health checks do not go through the request queue, the gate or the budget: they are
 * not API requests, and a failed one says nothing about the agent's server.
 */
import type { Gate } from './gate';
import type { Cadence } from './schedule';
import type { WakeJob } from './wake-loop';

/** What the gateway's /health says. */
export interface HealthReport {
  status: 'up' | 'down';
  /** Gateway clock, epoch ms: when the status last changed. */
  since: number;
  /** Gateway clock, epoch ms: when the gateway last asked ElizaOS. */
  checkedAt: number;
}

/**
 * What a check means for requests that have been failing since `failingSince`:
 * - 'down': the server is down; nothing should go to the API;
 * - 'back': the server came back after the failures; what waits may go now;
 * - 'up': the server has been up since before the failures (they have another cause);
 * - 'unknown': no usable answer (no /health on this gateway, or it could not be asked).
 */
export type HealthVerdict = 'down' | 'back' | 'up' | 'unknown';

export interface HealthWatchOptions {
  fetch: (request: Request, init: { signal: AbortSignal }) => Promise<Response>;
  /** The gateway's /health, absolute. */
  url: string;
  now: () => number;
  /** Between checks while a tab is visible and in use, ms (default 1 s). */
  activeEveryMs?: number;
  /** Between checks while every tab is hidden or idle, ms (default 5 s). */
  backgroundEveryMs?: number;
  /** How long a gateway without /health is left alone before it is asked again, ms (default 5 min). */
  unsupportedForMs?: number;
  /** How long one check may take, ms (default 3 s). */
  timeoutMs?: number;
}

const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;

/** The report in a /health body, or undefined when the body is not one (storage and network are input). */
export function parseHealth(body: unknown): HealthReport | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { status, since, checkedAt } = body as Record<string, unknown>;
  if ((status !== 'up' && status !== 'down') || !isTime(since) || !isTime(checkedAt)) return undefined;
  return { status, since, checkedAt };
}

/**
 * Whether an 'up' report received at `receivedAt` (our clock) says the server came back
 * after `failingSince` (our clock). The gateway's clock may differ from ours: its
 * `checkedAt` was at most a second before it answered, so `since` is moved onto our
 * clock by the difference between the two. The error (up to a second) can only make a
 * recovery look later than it was, which costs one early request at most.
 */
export function isBackAfter(report: HealthReport, receivedAt: number, failingSince: number): boolean {
  return report.status === 'up' && report.since + (receivedAt - report.checkedAt) >= failingSince;
}

export class HealthWatch {
  readonly #options: HealthWatchOptions;
  /** When this episode of failures was last checked (our clock), or undefined before its first check. */
  #lastCheckAt: number | undefined;
  /** The failures the last checks were about; a new failure time starts a new episode. */
  #episode: number | undefined;
  /** The health check said 'down' during this episode. */
  #sawDown = false;
  #unsupportedUntil = Number.NEGATIVE_INFINITY;
  #checking = false;

  constructor(options: HealthWatchOptions) {
    this.#options = options;
  }

  /**
   * When the next check is due, epoch ms, or undefined when none is wanted: requests are
   * not failing, no tab is open, a check is under way, or the gateway has no /health.
   */
  nextCheckAt(failingSince: number | undefined, cadence: Cadence): number | undefined {
    if (failingSince === undefined || cadence === 'none' || this.#checking) return undefined;
    const now = this.#options.now();
    if (now < this.#unsupportedUntil) return this.#unsupportedUntil;
    if (failingSince !== this.#episode || this.#lastCheckAt === undefined) return now;
    const every = cadence === 'active' ? (this.#options.activeEveryMs ?? 1_000) : (this.#options.backgroundEveryMs ?? 5_000);
    return this.#lastCheckAt + every;
  }

  /** Asks /health once, about the failures running since `failingSince`. */
  async check(failingSince: number): Promise<HealthVerdict> {
    if (failingSince !== this.#episode) {
      this.#episode = failingSince;
      this.#sawDown = false;
    }
    this.#checking = true;
    try {
      const report = await this.#ask();
      const receivedAt = this.#options.now();
      this.#lastCheckAt = receivedAt;
      if (report === 'unsupported') {
        this.#unsupportedUntil = receivedAt + (this.#options.unsupportedForMs ?? 5 * 60_000);
        return 'unknown';
      }
      if (report === undefined) return 'unknown';
      if (report.status === 'down') {
        this.#sawDown = true;
        return 'down';
      }
      return this.#sawDown || isBackAfter(report, receivedAt, failingSince) ? 'back' : 'up';
    } finally {
      this.#checking = false;
    }
  }

  /** The report, 'unsupported' for a gateway without /health, undefined when it could not be asked. */
  async #ask(): Promise<HealthReport | 'unsupported' | undefined> {
    let response: Response;
    try {
      const request = new Request(this.#options.url, { cache: 'no-store', headers: { Accept: 'application/json' } });
      response = await this.#options.fetch(request, { signal: AbortSignal.timeout(this.#options.timeoutMs ?? 3_000) });
    } catch {
      // The gateway itself is unreachable (offline, or down too): nothing is known about the server.
      return undefined;
    }
    if (response.status >= 500) return undefined;
    let body: unknown;
    try {
      body = response.ok ? await response.json() : undefined;
    } catch {
      body = undefined;
    }
    return parseHealth(body) ?? 'unsupported';
  }
}

export interface HealthJobOptions {
  watch: HealthWatch;
  gate: Pick<Gate, 'failingSince' | 'serverDown' | 'serverBack'>;
  now: () => number;
  /** False while the device is offline: the gateway cannot be asked then. */
  isOnline: () => boolean;
  /** How often polls run for the open tabs (the health cadence follows it). */
  cadence: () => Cadence;
  /** Brings what waits forward once the server is back (sw/catch-up.ts). */
  catchUp: () => Promise<void>;
}

/**
 * The health watch as a job of the wake loop: due on its cadence while requests fail.
 * 'down' shuts the gate (the breaker opens, so nothing knocks on the dead API); 'back'
 * lets the breaker's probe go at once and brings every backed-off poll and message
 * forward.
 */
export function createHealthJob(options: HealthJobOptions): WakeJob {
  const { watch, gate, now } = options;
  return {
    name: 'health',
    runsOnEvent: false,
    dueAt: () => (options.isOnline() ? watch.nextCheckAt(gate.failingSince(), options.cadence()) : undefined),
    run: async () => {
      const failingSince = gate.failingSince();
      if (failingSince === undefined) return;
      const verdict = await watch.check(failingSince);
      if (verdict === 'down') gate.serverDown(now());
      if (verdict !== 'back') return;
      gate.serverBack(now());
      await options.catchUp();
    },
  };
}
