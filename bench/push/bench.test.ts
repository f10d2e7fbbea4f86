import { describe, expect, it } from 'vitest';
import type { PushQuery } from '../../server/gateway/push/push';
import { routedQuery } from '../../server/gateway/test-kit';
import { isPushToken } from '../../server/gateway/push/push-token';
import { checkPushSmoke, dealStreams, type PushReport, type PushRow, quantileOfSorted, SMOKE_PLAN, streamPath } from './bench';
import { PUSH_END, PUSH_START, renderPush } from './render';

const KEY = Buffer.from('purl-push-fanout-bench-secret-0123456789', 'utf8');

function row(server: PushRow['server'], channels: PushRow['channels'], overrides: Partial<PushRow> = {}): PushRow {
  return {
    server,
    channels,
    streams: 200,
    opened: 200,
    failures: 0,
    openMs: 100,
    openCpuMs: 50,
    rssPerStreamBytes: 4_096,
    heapPerStreamBytes: 2_048,
    rssAfterBytes: 100 * 1024 * 1024,
    heapAfterBytes: 20 * 1024 * 1024,
    fanOut: { p50Ms: 5, p95Ms: 10, maxMs: 12, delivered: 200, expected: 200 },
    fanOutCpuMs: 10,
    ...overrides,
  };
}

const report = (rows: PushRow[]): PushReport => ({ date: '2026-12-01', plan: SMOKE_PLAN, rows, elapsedS: 4, load: [3, 3.5] });

describe('the push fan-out bench', () => {
  it('asks for streams the gateway accepts: a valid query and a token of the bench’s key', () => {
    for (const channels of ['one', 'each'] as const) {
      const matched = routedQuery('GET', streamPath(7, channels));
      if (matched.route !== 'push' || matched.query === undefined) throw new Error(`not a push query: ${JSON.stringify(matched)}`);
      const [session] = (matched.query as PushQuery).sessions;
      expect(isPushToken(KEY, session!.sessionId, session!.channelId, session!.token)).toBe(true);
    }
    expect(streamPath(3, 'one')).toBe(streamPath(9, 'one'));
    expect(streamPath(3, 'each')).not.toBe(streamPath(9, 'each'));
  });

  it('deals every stream once, to at most four shards, no address over its limit or split between shards', () => {
    const shards = dealStreams(10_001, 'each', 200);
    expect(shards).toHaveLength(4);
    const all = shards.flat();
    expect(new Set(all.map((stream) => stream.path)).size).toBe(10_001);
    const perAddress = new Map<string, number>();
    for (const stream of all) perAddress.set(stream.from, (perAddress.get(stream.from) ?? 0) + 1);
    expect(Math.max(...perAddress.values())).toBe(200);
    const shardsOf = (address: string) => shards.filter((shard) => shard.some((stream) => stream.from === address)).length;
    expect([...perAddress.keys()].every((address) => shardsOf(address) === 1)).toBe(true);
    expect(dealStreams(200, 'one', 200)).toHaveLength(1);
  });

  it('reads quantiles by nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([quantileOfSorted(values, 0.5), quantileOfSorted(values, 0.95), quantileOfSorted(values, 1)]).toEqual([50, 95, 100]);
    expect(quantileOfSorted([], 0.5)).toBeNaN();
  });

  it('draws one line a row between its markers, the gateway against the bare server of the same size', () => {
    const markdown = renderPush(
      report([
        row('bare', 'one'),
        row('gateway', 'one', { heapPerStreamBytes: 6_144, fanOut: { p50Ms: 8, p95Ms: 25, maxMs: 30, delivered: 200, expected: 200 } }),
      ]),
      '`npm run bench:push-fanout`',
    );
    expect(markdown.startsWith(PUSH_START) && markdown.endsWith(PUSH_END)).toBe(true);
    const gateway = markdown.split('\n').find((line) => line.includes('gateway, one channel'))!;
    expect(gateway).toContain('| 6.0 | 3.0 |');
    expect(gateway).toContain('| 8.0 / 25 / 30 | 2.5 | 200 / 200 |');
  });

  it('passes the smoke check only when every stream opened and got every event', () => {
    expect(() => checkPushSmoke(report([row('bare', 'one'), row('gateway', 'each')]))).not.toThrow();
    expect(() => checkPushSmoke(report([row('gateway', 'one', { fanOut: { p50Ms: 5, p95Ms: 10, maxMs: 12, delivered: 199, expected: 200 } })]))).toThrow(
      /199 of 200 events delivered/,
    );
    expect(() => checkPushSmoke(report([row('gateway', 'each', { opened: 190, failures: 10, firstFailure: 'status 429' })]))).toThrow(
      /190 of 200 streams opened \(status 429\)/,
    );
  });
});
