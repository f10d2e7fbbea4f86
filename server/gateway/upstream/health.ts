/**
 * `GET /health`: is the agent's server up, and since when? Workers that are backing off
 * ask this instead of the API, so they come back the moment the server does without
 * knocking on a dead API. However many users ask, ElizaOS is checked at most once per
 * interval (its `/healthz`, outside its rate-limited /api), and concurrent askers share
 * one check.
 */

export type UpstreamStatus = 'up' | 'down';

export interface HealthReport {
  status: UpstreamStatus;
  /** Epoch ms of the last change of status (the gateway's start before any change). */
  since: number;
  /** Epoch ms of the check this report comes from. */
  checkedAt: number;
}

export interface HealthOptions {
  upstream: URL;
  /** Extra headers for the check (the server's API key). */
  headers?: Record<string, string>;
  /** At most one upstream check per this many ms, default 1000. */
  intervalMs?: number;
  /** A check that takes longer counts as down, ms, default 2000. */
  timeoutMs?: number;
  now?: () => number;
  fetch?: typeof fetch;
}

export interface Health {
  /** A report at most `intervalMs` old (waits for a check when the last one is older). */
  report(): Promise<HealthReport>;
}

export function createHealth(options: HealthOptions): Health {
  const now = options.now ?? Date.now;
  const doFetch = options.fetch ?? fetch;
  const intervalMs = options.intervalMs ?? 1_000;
  const timeoutMs = options.timeoutMs ?? 2_000;
  const target = new URL('/healthz', options.upstream);
  let last: HealthReport | undefined;
  let checking: Promise<HealthReport> | undefined;
  const started = now();

  async function check(): Promise<HealthReport> {
    let status: UpstreamStatus = 'down';
    try {
      const answer = await doFetch(target, { headers: options.headers ?? {}, signal: AbortSignal.timeout(timeoutMs) });
      await answer.body?.cancel();
      status = answer.ok ? 'up' : 'down';
    } catch {
      // Unreachable, reset or too slow: down.
    }
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
