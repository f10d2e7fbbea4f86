import { describe, expect, it } from 'vitest';
import type { RowResult } from '../edge/fleet';
import { ZERO_TOTALS } from '../edge/shards';
import { summarizeUpstream, type UpstreamEntry } from '../edge/upstream-counter';
import { checkPushSmoke, pushFigures, renderPush, type PushReport } from './push-bench';

/** A row over a 60-s measure: `chatPolls` and `posts` upstream in it, `sockets` Socket.IO connections, replies stored after `p95` ms. */
function row(client: RowResult['client'], users: number, upstream: { chatPolls: number; posts: number; sockets: number }, p95?: number): RowResult {
  const entries: UpstreamEntry[] = [];
  for (let i = 0; i < upstream.sockets; i += 1) entries.push({ at: 10, kind: 'socket', status: 101, bytes: 0 });
  for (let i = 0; i < upstream.chatPolls; i += 1) entries.push({ at: 1_000 + i, kind: 'chat-poll', status: 200, bytes: 500 });
  for (let i = 0; i < upstream.posts; i += 1) entries.push({ at: 2_000 + i, kind: 'message-post', status: 201, bytes: 300 });
  return {
    client,
    users,
    server: 'stock',
    concurrentRows: 0,
    measureMs: 60_000,
    firstVisitMs: 1_000,
    fleet: {
      users,
      firstVisit: { ...ZERO_TOTALS },
      measured: { ...ZERO_TOTALS, typed: users, delivered: users },
      ...(p95 === undefined ? {} : { replyP50Ms: p95 / 2, replyP95Ms: p95 }),
      replies: p95 === undefined ? 0 : users,
      shards: [],
      worstEventLoopP99Ms: 0,
      totalCpuPercent: 0,
      lateStarts: 0,
    },
    upstream: { firstVisit: summarizeUpstream(entries, 0, 1_000), measured: summarizeUpstream(entries, 1_000, 61_000) },
    gateway: { cpuPercent: 3, peakMb: 120 },
    eliza: { cpuPercent: 20, peakMb: 800 },
    counterCpuPercent: 0,
  };
}

const report = (stock: RowResult[]): PushReport => ({
  date: '2026-11-30',
  plan: { fleetUsers: [50], clients: ['push', 'edge', 'naive'], rampMs: 10_000, settleMs: 5_000, measureMs: 60_000, embedded: false, messageEveryMs: 60_000 },
  stock,
  embedded: [],
  failed: [],
  elapsedS: 600,
});

describe('push bench figures', () => {
  it('counts the upstream sockets apart from the budget, and compares push with polling and naive in the same run', () => {
    const push = row('push', 50, { chatPolls: 50, posts: 50, sockets: 1 }, 120);
    expect(pushFigures(push)).toMatchObject({ sockets: 1, upstreamPerMin: 100, upstreamPerUserPerMin: 2, messagePostsPerMin: 50 });
    const markdown = renderPush(
      report([push, row('edge', 50, { chatPolls: 300, posts: 50, sockets: 0 }, 900), row('naive', 50, { chatPolls: 600, posts: 50, sockets: 0 })]),
      '`npm run bench:push`',
    );
    const pushLine = markdown.split('\n').find((line) => line.includes('| Purl with push |'))!;
    // 100 a minute against polling's 350 and naive's 650.
    expect(pushLine).toContain('| 100 | 2.00 | 0.29 | 0.15 |');
    expect(pushLine).toContain('| 0.06 / 0.12 |');
    expect(markdown).toContain(
      '- Purl with push: no 429 from ElizaOS or the gateway in the window up to 50 of the sizes measured; first visits plus 15 minutes at the rate measured after them stay within one budget of 1000 up to none.',
    );
    expect(markdown).toContain('| Purl polling (edge on, push off) |');
  });

  it('fails the smoke run when replies were not pushed or the gateway opened more than one socket', () => {
    expect(() => checkPushSmoke(report([row('push', 4, { chatPolls: 4, posts: 4, sockets: 1 }, 200)]))).not.toThrow();
    expect(() => checkPushSmoke(report([row('push', 4, { chatPolls: 4, posts: 4, sockets: 2 }, 200)]))).toThrow(/2 Socket.IO connections/);
    expect(() => checkPushSmoke(report([row('push', 4, { chatPolls: 4, posts: 4, sockets: 1 }, 4_000)]))).toThrow(/not pushed/);
    expect(() => checkPushSmoke(report([row('push', 4, { chatPolls: 4, posts: 4, sockets: 1 })]))).toThrow(/no reply/);
  });
});
