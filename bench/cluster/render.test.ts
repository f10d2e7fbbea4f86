import { describe, expect, it } from 'vitest';
import type { FrontSnapshots } from '../edge/fleet';
import { ZERO_TOTALS } from '../edge/shards';
import { summarizeUpstream, type UpstreamEntry } from '../edge/upstream-counter';
import { type ClusterReport, type ClusterRow, addressOffsetOf, clusterPlan } from './cluster-bench';
import { checkClusterSmoke, clusterFigures, renderCluster } from './render';

interface RowOptions {
  users?: number;
  instances?: number;
  clustered?: boolean;
  server?: ClusterRow['server'];
  /** Upstream chat polls in the measured minute. */
  chatPolls?: number;
  /** Requests HAProxy sent each instance over the measured minute (and as many before it). */
  requests?: number[];
  /** Redis commands in the measured minute: total_commands_processed's growth, of which PINGs and the bench's one INFO. */
  redis?: { total: number; pings: number };
  replyP95Ms?: number;
}

/** A row over a 60-s measure, its gateways each at 6 % of a core, 100 MB at the start and 150 at the peak. */
function row(options: RowOptions = {}): ClusterRow {
  const { users = 1000, instances = 1, clustered = true, chatPolls = 100, redis = { total: 3_001, pings: 60 * instances } } = options;
  const requests = options.requests ?? Array.from({ length: instances }, () => 600);
  const entries: UpstreamEntry[] = [{ at: 10, kind: 'socket', status: 101, bytes: 0 }];
  for (let i = 0; i < chatPolls; i++) entries.push({ at: 2_000 + i, kind: 'chat-poll', status: 200, bytes: 500 });
  const haproxy = (share: number) => Object.fromEntries(requests.map((n, i) => [`haproxy:gateway${i + 1}:requests`, n * share]));
  const snapshots: FrontSnapshots = {
    atStart: { 'redis:commands': 5, ...haproxy(0) },
    atMeasure: { 'redis:commands': 1_000, 'redis:cmd:ping': 10, 'redis:cmd:info': 1, 'redis:cmd:evalsha': 100, ...haproxy(1) },
    atEnd: {
      'redis:commands': 1_000 + redis.total,
      'redis:cmd:ping': 10 + redis.pings,
      'redis:cmd:info': 2,
      'redis:cmd:evalsha': 100 + redis.total - 1 - redis.pings,
      'haproxy:entry:peak': users + 10,
      'haproxy:gateway1:downs': 1,
      'haproxy:gateway1:downtime': 4,
      ...haproxy(2),
    },
  };
  const gateway = { cpuPercent: 6, peakMb: 150, startMb: 100, windowCpuS: 5 };
  return {
    client: 'push',
    users,
    server: options.server ?? 'stock',
    concurrentRows: 0,
    measureMs: 60_000,
    firstVisitMs: 1_000,
    fleet: {
      users,
      firstVisit: { ...ZERO_TOTALS },
      measured: { ...ZERO_TOTALS, typed: users, delivered: users },
      ...(options.replyP95Ms === undefined ? { replyP50Ms: 100, replyP95Ms: 200 } : { replyP50Ms: options.replyP95Ms / 2, replyP95Ms: options.replyP95Ms }),
      replies: 250,
      shards: [],
      worstEventLoopP99Ms: 0,
      totalCpuPercent: 0,
      lateStarts: 0,
    },
    upstream: { firstVisit: summarizeUpstream(entries, 0, 1_000), measured: summarizeUpstream(entries, 1_000, 61_000) },
    gateway,
    processes: clustered
      ? [
          ...Array.from({ length: instances }, (_, i) => ({ name: `gateway${i + 1}`, ...gateway })),
          { name: 'haproxy', cpuPercent: 2, peakMb: 20 },
          { name: 'redis', cpuPercent: 1, peakMb: 12 },
        ]
      : [{ name: 'gateway', ...gateway }],
    ...(clustered ? { snapshots } : {}),
    eliza: { cpuPercent: 30, peakMb: 800, windowCpuS: 25 },
    counterCpuPercent: 0,
    instances,
    clustered,
    loadAverage: [2.5, 3.25],
  };
}

const report = (rows: ClusterRow[], failed: ClusterReport['failed'] = []): ClusterReport => ({
  date: '2026-11-30',
  plan: clusterPlan({ smoke: false }),
  rows,
  failed,
  elapsedS: 900,
});

describe('cluster bench figures', () => {
  it('adds up the instances: CPU ms and KB per user, Redis commands per user without the bench’s INFO, requests per instance', () => {
    const figures = clusterFigures(row({ instances: 3, redis: { total: 3_001, pings: 180 }, requests: [600, 590, 610] }));
    // 3 × 6 % of a core = 10.8 s a minute, over 1000 users; 3 × 50 MB over 1000 users.
    expect(figures.gatewayCpuMsPerUserPerMin).toBeCloseTo(10.8);
    expect(figures.gatewayKbPerUser).toBeCloseTo(153.6);
    expect(figures).toMatchObject({ redisPerMin: 3_000, redisPerUserPerMin: 3, redisPingsPerMin: 180, entryPeakConnections: 1_010, elizaCpuMsPerReply: 100 });
    expect(figures.takenOut).toEqual({ times: 1, seconds: 4 });
    expect(figures.redisTop).toEqual([
      ['evalsha', 2_820],
      ['ping', 180],
    ]);
    expect(figures.gateways.map((gateway) => gateway.requestsPerMin)).toEqual([600, 590, 610]);
  });

  it('has no Redis or HAProxy figures for a gateway alone', () => {
    const figures = clusterFigures(row({ clustered: false }));
    expect(figures.gateways).toEqual([{ name: 'gateway', cpuPercent: 6, peakMb: 150 }]);
    expect(figures.redisPerMin).toBeUndefined();
    expect(figures.haproxy).toBeUndefined();
  });

  it('divides each row by the 1-gateway cluster row of the same size and server, and says which rows were not measured', () => {
    const rows = [
      row({ clustered: false, chatPolls: 50 }),
      row({ instances: 1, chatPolls: 100 }),
      row({ instances: 2, chatPolls: 150, redis: { total: 4_501, pings: 120 } }),
      row({ instances: 1, chatPolls: 300, server: 'embedded' }),
      row({ instances: 3, chatPolls: 600, server: 'embedded' }),
    ];
    const markdown = renderCluster(
      report(rows, [{ server: 'stock', users: 2000, instances: 3, clustered: true, error: 'a shard did not report in time' }]),
      '`npm run bench:cluster`',
    );
    const lines = markdown.split('\n');
    const line = (start: string, n = 0) => lines.filter((text) => text.startsWith(start))[n]!;
    expect(line('| 1000 | 1 alone | 50 | 0.050 | 0.50 |')).toBeDefined();
    expect(line('| 1000 | 1 | 100 | 0.100 |  |')).toBeDefined();
    expect(line('| 1000 | 2 | 150 | 0.150 | 1.50 |')).toBeDefined();
    // Against the embedded 1-gateway row, not the stock one.
    expect(line('| 1000 | 3 | 600 | 0.600 | 2.00 |')).toBeDefined();
    // Redis: 4500 a minute against 3000.
    expect(line('| 1000 | 2 | 6 / 150 (600) · 6 / 150 (600) |')).toContain('| 2.0 / 20 (1010) | 1, 4 | 1.0 / 12 | 4500 | 4.50 | 1.50 |');
    expect(line('| 1000 | 2 | 6 / 150 (600) · 6 / 150 (600) |')).toMatch(/\| 2\.5 → 3\.3 \|$/);
    expect(markdown).toContain('#### In front of the embedded ElizaOS (a budget per user): processes');
    expect(markdown).toContain('- 1000 users × 2: evalsha 4380, ping 120');
    expect(markdown).toContain('Not measured: 2000 users through 3 gateways in front of the stock ElizaOS (a shard did not report in time).');
    expect(markdown.startsWith('<!-- bench:cluster:start -->')).toBe(true);
    expect(markdown.endsWith('<!-- bench:cluster:end -->')).toBe(true);
  });

  it('fails the smoke run when an instance was sent nothing, replies were not pushed, or Redis was not used', () => {
    const smoke = (options: RowOptions) => () => checkClusterSmoke(report([row({ users: 4, instances: 2, ...options })]));
    expect(smoke({})).not.toThrow();
    expect(smoke({ requests: [12, 0] })).toThrow(/gateway2 was sent no request/);
    expect(smoke({ replyP95Ms: 4_000 })).toThrow(/not pushed/);
    expect(smoke({ redis: { total: 1, pings: 0 } })).toThrow(/Redis was sent no command/);
    expect(() => checkClusterSmoke(report([]))).toThrow(/no row was measured/);
  });

  it('gives the rows of a size the same addresses, and each size its own', () => {
    expect(addressOffsetOf(1000, [1000, 2000])).toBe(52_000);
    expect(addressOffsetOf(2000, [1000, 2000])).toBe(53_000);
    expect(addressOffsetOf(4, [4])).toBe(52_000);
  });
});
