import { describe, expect, it } from 'vitest';
import { createHealthJob, HealthWatch, isBackAfter, parseHealth } from './health';

const T0 = 1_000_000;

function harness(answer: () => Promise<Response> | Response) {
  const clock = { now: T0 };
  const asked: string[] = [];
  const watch = new HealthWatch({
    url: 'http://purl.test/health',
    now: () => clock.now,
    fetch: async (request) => {
      asked.push(`${request.url} ${request.cache}`);
      return answer();
    },
  });
  return { clock, asked, watch };
}

const report = (status: 'up' | 'down', since: number, checkedAt: number) => Response.json({ status, since, checkedAt });

describe('parseHealth', () => {
  it('takes the gateway contract and refuses anything else', () => {
    expect(parseHealth({ status: 'up', since: 5, checkedAt: 6 })).toEqual({ status: 'up', since: 5, checkedAt: 6 });
    expect(parseHealth({ status: 'ok', since: 5, checkedAt: 6 })).toBeUndefined();
    expect(parseHealth({ status: 'down', since: '5', checkedAt: 6 })).toBeUndefined();
    expect(parseHealth({ ok: true })).toBeUndefined();
    expect(parseHealth('<html>')).toBeUndefined();
    expect(parseHealth(null)).toBeUndefined();
  });
});

describe('isBackAfter', () => {
  it('compares the gateway time of the change with ours through its checkedAt, whatever the clocks say', () => {
    // The gateway's clock is an hour ahead; it came back 2 s before it last checked, which it did as it answered.
    const hour = 3_600_000;
    const up = { status: 'up' as const, since: T0 + hour - 2_000, checkedAt: T0 + hour };
    expect(isBackAfter(up, T0, T0 - 3_000)).toBe(true);
    expect(isBackAfter(up, T0, T0 - 1_000)).toBe(false);
    expect(isBackAfter({ ...up, status: 'down' }, T0, T0 - 3_000)).toBe(false);
  });
});

describe('the health watch', () => {
  it('asks only while requests fail and a tab is open: every second for a visible tab, every 5 s for hidden ones', async () => {
    const { clock, watch } = harness(() => report('down', T0 - 10_000, T0));
    expect(watch.nextCheckAt(undefined, 'active')).toBeUndefined();
    expect(watch.nextCheckAt(T0 - 1, 'none')).toBeUndefined();
    expect(watch.nextCheckAt(T0 - 1, 'active')).toBe(T0);
    expect(await watch.check(T0 - 1)).toBe('down');
    expect(watch.nextCheckAt(T0 - 1, 'active')).toBe(T0 + 1_000);
    expect(watch.nextCheckAt(T0 - 1, 'background')).toBe(T0 + 5_000);
    // A new failure is a new episode: asked at once.
    clock.now += 100;
    expect(watch.nextCheckAt(T0 + 50, 'active')).toBe(T0 + 100);
  });

  it('says back when the server came up after the failures, or after it was seen down', async () => {
    let answer = report('up', T0 - 60_000, T0);
    const { clock, watch } = harness(() => answer);
    // Up since before the failures: they have another cause.
    expect(await watch.check(T0 - 1_000)).toBe('up');
    answer = report('down', T0 - 500, T0);
    expect(await watch.check(T0 - 1_000)).toBe('down');
    // Seen down, now up: back, even if the gateway's since looks early on our clock.
    clock.now += 1_000;
    answer = report('up', T0 - 2_000, T0 + 1_000);
    expect(await watch.check(T0 - 1_000)).toBe('back');
    // Came back after the failures without being seen down.
    answer = report('up', T0 + 1_500, T0 + 2_000);
    clock.now = T0 + 2_000;
    expect(await watch.check(T0 + 1_000)).toBe('back');
  });

  it('leaves a gateway without /health alone for 5 minutes (a 404 or an answer of another shape)', async () => {
    let answer = new Response('Not found.', { status: 404 });
    const { clock, asked, watch } = harness(() => answer);
    expect(await watch.check(T0 - 1)).toBe('unknown');
    expect(watch.nextCheckAt(T0 - 1, 'active')).toBe(T0 + 300_000);
    clock.now = T0 + 300_000;
    answer = Response.json({ ok: true });
    expect(await watch.check(T0 - 1)).toBe('unknown');
    expect(watch.nextCheckAt(T0 - 1, 'active')).toBe(T0 + 600_000);
    expect(asked).toEqual(['http://purl.test/health no-store', 'http://purl.test/health no-store']);
  });

  it('knows nothing when the gateway cannot be asked, and asks again at the usual cadence', async () => {
    const { watch } = harness(() => Promise.reject(new TypeError('Failed to fetch')));
    expect(await watch.check(T0 - 1)).toBe('unknown');
    expect(watch.nextCheckAt(T0 - 1, 'active')).toBe(T0 + 1_000);
  });
});

describe('the health job', () => {
  function job(answer: () => Response, failing: { since?: number } = { since: T0 - 1_000 }) {
    const { clock, watch } = harness(answer);
    const events: string[] = [];
    const spec = createHealthJob({
      watch,
      now: () => clock.now,
      isOnline: () => true,
      cadence: () => 'active',
      catchUp: async () => {
        events.push('catch up');
      },
      gate: {
        failingSince: () => failing.since,
        serverDown: (at) => events.push(`down at ${at}`),
        serverBack: (at) => events.push(`back at ${at}`),
      },
    });
    return { spec, events };
  }

  it('shuts the gate when the server is down, and lets everything go when it is back', async () => {
    let answer = report('down', T0 - 5_000, T0);
    const { spec, events } = job(() => answer);
    expect(spec.dueAt()).toBe(T0);
    await spec.run();
    answer = report('up', T0, T0);
    await spec.run();
    expect(events).toEqual([`down at ${T0}`, `back at ${T0}`, 'catch up']);
  });

  it('is never due while requests succeed', () => {
    const { spec } = job(() => report('up', 0, T0), {});
    expect(spec.dueAt()).toBeUndefined();
  });
});
