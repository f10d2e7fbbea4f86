/**
 * `GET /health`: is the agent's server up, and since when? Workers that are backing off
 * ask this instead of the API, so they come back the moment the server does without
 * knocking on a dead API. However many users ask, ElizaOS is checked at most once per
 * interval (its `/healthz`, outside its rate-limited /api), and concurrent askers share
 * one check. The check goes through the upstream client (server/gateway/upstream/client.ts)
 * like every request to ElizaOS, and costs nothing of its budget.
 */
import type { Clock } from '../../../src/shared/clock';
import { unrefClock } from '../clock';
import { GATEWAY_ITSELF, type UpstreamClient } from './client';

export type UpstreamStatus = 'up' | 'down';

export interface HealthReport {
  status: UpstreamStatus;
  /** Epoch ms of the last change of status (the gateway's start before any change). */
  since: number;
  /** Epoch ms of the check this report comes from. */
  checkedAt: number;
}

export interface HealthOptions {
  /** The client the check goes through (the gateway's headers, the server's API key among them). */
  upstream: Pick<UpstreamClient, 'send'>;
  /** At most one upstream check per this many ms, default 1000. */
  intervalMs?: number;
  /** A check that takes longer counts as down, ms, default 2000. */
  timeoutMs?: number;
  /** The time now, epoch ms (default: the system's). */
  now?: () => number;
  /** Sets the check's timeout (default: setTimeout, unref'd: it keeps no process alive). */
  setTimer?: Clock['setTimer'];
}

export interface Health {
  /** A report at most `intervalMs` old (waits for a check when the last one is older). */
  report(): Promise<HealthReport>;
}

export function createHealth(options: HealthOptions): Health {
  const now = options.now ?? unrefClock.now;
  const setTimer = options.setTimer ?? unrefClock.setTimer;
  const intervalMs = options.intervalMs ?? 1_000;
  const timeoutMs = options.timeoutMs ?? 2_000;
  let last: HealthReport | undefined;
  let checking: Promise<HealthReport> | undefined;
  const started = now();

  async function check(): Promise<HealthReport> {
    const late = new AbortController();
    const cancelTimeout = setTimer(() => late.abort(), timeoutMs);
    const sending = options.upstream.send({ cost: 'free', client: GATEWAY_ITSELF, method: 'GET', path: '/healthz', signal: late.signal });
    // Unreachable, reset or too slow: down (a check costs nothing of the budget, so it is never kept back).
    const answer = sending.kind === 'sent' ? await sending.answer : undefined;
    cancelTimeout();
    const status: UpstreamStatus = answer?.kind === 'answer' && answer.status >= 200 && answer.status < 300 ? 'up' : 'down';
    const checkedAt = now();
    const since = last === undefined ? started : last.status === status ? last.since : checkedAt;
    last = { status, since, checkedAt };
    return last;
  }

  return {
    report() {
      if (last && now() - last.checkedAt < intervalMs) return Promise.resolve(last);
      checking ??= check().finally(() => (checking = undefined));
      return checking;
    },
  };
}
