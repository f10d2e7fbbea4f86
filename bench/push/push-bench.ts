/**
 * Push's bench (issue 12): Purl with push, Purl polling (the same gateway and edge with
 * push off) and the naive client, in one run, in front of a stock ElizaOS that counts the
 * gateway as one client (and with `--embedded`, the embedded one that gives every user a
 * budget). Each row is a window of its own (bench/edge/fleet.ts): a fresh ElizaOS, the
 * row's gateway in front of a counting proxy, the simulated users in shard processes,
 * each holding the push stream as the leader tab does when the row is push's.
 * `npm run bench:push` runs it alone; `npm run bench:smoke` runs a tiny case.
 */
import { makeTemplates } from '../edge/edge-bench';
import { allStopped, CLIENT_LABEL, runWindow, type RowResult, type RowSpec, type WindowSpec } from '../edge/fleet';
import { BUDGET, BUDGET_MINUTES, ratio, rowFigures, usersCarried } from '../edge/render';

export interface PushBenchOptions {
  smoke: boolean;
  embedded: boolean;
}

export interface PushPlan {
  fleetUsers: number[];
  clients: RowSpec['client'][];
  rampMs: number;
  settleMs: number;
  measureMs: number;
  embedded: boolean;
  /** Mean time between a user's messages, ms (the first comes anywhere within it). */
  messageEveryMs: number;
}

export function pushPlan(options: PushBenchOptions): PushPlan {
  // The smoke run's window is 16 s: at a message a minute, the 4 users had a 28 % chance that
  // none typed at all (the smoke then saw no reply and failed). Every 6 s, each types in it.
  if (options.smoke) return { fleetUsers: [4], clients: ['push'], rampMs: 2_000, settleMs: 2_000, measureMs: 12_000, embedded: false, messageEveryMs: 6_000 };
  return {
    fleetUsers: [50, 200, 500, 1000],
    clients: ['push', 'edge', 'naive'],
    rampMs: 10_000,
    settleMs: 5_000,
    measureMs: 60_000,
    embedded: options.embedded,
    messageEveryMs: 60_000,
  };
}

export interface PushReport {
  date: string;
  plan: PushPlan;
  stock: RowResult[];
  embedded: RowResult[];
  /** Windows that did not finish (the simulator could not keep up, a server failed), with why: the rest stand. */
  failed: { server: WindowSpec['server']; client: RowSpec['client']; users: number; error: string }[];
  elapsedS: number;
}

const log = (line: string) => console.log(`bench: push: ${line}`);

export async function runPushBench(options: PushBenchOptions): Promise<PushReport> {
  const plan = pushPlan(options);
  const startedAt = Date.now();
  const templates = await makeTemplates([]);
  // Addresses no other part of the bench uses (the edge bench starts at 20,000).
  let addressOffset = 40_000;
  const window = (users: number, client: RowSpec['client'], server: WindowSpec['server']): Promise<RowResult[]> => {
    const spec: WindowSpec = {
      rows: [{ client, users }],
      server,
      template: templates.dirs.get(0)!,
      rampMs: plan.rampMs,
      settleMs: plan.settleMs,
      measureMs: plan.measureMs,
      tabs: 2,
      messageEveryMs: plan.messageEveryMs,
      addressOffset,
      label: `push ${server} ${users}`,
    };
    addressOffset += users;
    log(`${CLIENT_LABEL[client]} × ${users} (${server})`);
    return runWindow(spec);
  };
  try {
    const stock: RowResult[] = [];
    const embedded: RowResult[] = [];
    const failed: PushReport['failed'] = [];
    for (const server of plan.embedded ? (['stock', 'embedded'] as const) : (['stock'] as const))
      for (const users of plan.fleetUsers)
        for (const client of plan.clients) {
          try {
            (server === 'stock' ? stock : embedded).push(...(await window(users, client, server)));
          } catch (error) {
            // One window that could not be measured (in the smoke run: the bench is broken) does not throw away the others.
            if (options.smoke) throw error;
            const reason = error instanceof Error ? error.message : String(error);
            log(`${CLIENT_LABEL[client]} × ${users} (${server}) not measured: ${reason}`);
            failed.push({ server, client, users, error: reason });
          }
        }
    return { date: new Date().toISOString().slice(0, 10), plan, stock, embedded, failed, elapsedS: (Date.now() - startedAt) / 1000 };
  } finally {
    await allStopped();
    templates.remove();
  }
}

/** What push's rows measure beyond the edge bench's figures. */
export function pushFigures(row: RowResult) {
  const { firstVisit, measured } = row.upstream;
  const minutes = row.measureMs / 60_000;
  return {
    ...rowFigures(row),
    /** Socket.IO connections ElizaOS accepted over the whole window (the gateway's: one, unless it had to reconnect). */
    sockets: firstVisit.byKind.socket + measured.byKind.socket,
    messagePostsPerMin: measured.byKind['message-post'] / minutes,
  };
}

/** The smoke run's proof that push works end to end: one socket upstream, replies seen, no chat poll for each of them. */
export function checkPushSmoke(report: PushReport): void {
  const problems: string[] = [];
  for (const row of report.stock) {
    const figures = pushFigures(row);
    if (figures.sockets !== 1) problems.push(`${figures.sockets} Socket.IO connections upstream, not 1`);
    if (row.fleet.replyP95Ms === undefined) problems.push('no reply reached a simulated user');
    else if (row.fleet.replyP95Ms > 3_000) problems.push(`replies took ${row.fleet.replyP95Ms} ms (p95) to be stored: not pushed`);
    if (figures.upstream429 > 0) problems.push(`${figures.upstream429} 429s from ElizaOS`);
  }
  if (problems.length > 0) throw new Error(`the push smoke run measured wrongly: ${problems.join('; ')}`);
}

/** In this bench the edge's client is the polling one: the same gateway and worker with push off. */
const LABEL: Record<RowSpec['client'], string> = { ...CLIENT_LABEL, edge: 'Purl polling (edge on, push off)' };

export const PUSH_FLEET_START = '<!-- bench:push-fleet:start -->';
export const PUSH_FLEET_END = '<!-- bench:push-fleet:end -->';

const fixed = (value: number | undefined, digits = 1) => (value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(digits));
const seconds = (ms: number | undefined) => (ms === undefined ? '—' : (ms / 1000).toFixed(2));

function table(rows: readonly RowResult[]): string[] {
  const same = (row: RowResult, client: RowResult['client']) => rows.find((other) => other.client === client && other.users === row.users);
  const lines = [
    '| users | client | upstream req/min | per user a min | ÷ polling | ÷ naive | chat polls/min | message POSTs/min | sockets upstream | ElizaOS 429s | typed / delivered / replies | reply stored p50 / p95 (s) | gateway CPU % / MB | ElizaOS CPU % / MB |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const row of rows) {
    const f = pushFigures(row);
    const polling = same(row, 'edge');
    const naive = same(row, 'naive');
    lines.push(
      `| ${row.users} | ${LABEL[row.client]} | ${fixed(f.upstreamPerMin, 0)} | ${fixed(f.upstreamPerUserPerMin, 2)} | ${row.client === 'edge' ? '' : ratio(f.upstreamPerMin, polling && rowFigures(polling).upstreamPerMin)} | ${row.client === 'naive' ? '' : ratio(f.upstreamPerMin, naive && rowFigures(naive).upstreamPerMin)} | ${fixed(f.chatPollsPerMin, 0)} | ${fixed(f.messagePostsPerMin, 0)} | ${f.sockets} | ${f.upstream429} | ${f.typed} / ${f.delivered} / ${row.fleet.replies} | ${seconds(row.fleet.replyP50Ms)} / ${seconds(row.fleet.replyP95Ms)} | ${row.gateway.cpuPercent.toFixed(0)} / ${row.gateway.peakMb.toFixed(0)} | ${row.eliza.cpuPercent.toFixed(0)} / ${row.eliza.peakMb.toFixed(0)} |`,
    );
  }
  return lines;
}

/** The generated part of "Push: the fleet" in BENCHMARKS.md, between its markers. */
export function renderPush(report: PushReport, command: string): string {
  const { plan } = report;
  const lines = [
    PUSH_FLEET_START,
    `### Measured ${report.date} with ${command} (${Math.round(report.elapsedS / 60)} min on this shared 2-core machine)`,
    '',
    `Each user has 2 tabs (one visible) and types a message about once a minute; users arrive over ${plan.rampMs / 1000} s, and ` +
      `${plan.settleMs / 1000} s later ${plan.measureMs / 1000} s are measured. Upstream = what ElizaOS received, counted by a proxy in front of it ` +
      '(Socket.IO connections apart: ElizaOS does not count them against its budget). Reply stored = from ElizaOS making the reply to the ' +
      'simulated worker storing it (the moment every tab of that browser is told). ÷ = ratio against the baselines of the same run.',
  ];
  for (const [title, rows] of [
    ['In front of a stock ElizaOS (one budget for the whole gateway)', report.stock],
    ['In front of the embedded ElizaOS (a budget per user)', report.embedded],
  ] as const) {
    if (rows.length === 0) continue;
    lines.push('', `#### ${title}`, '', ...table(rows), '');
    if (rows === report.stock) {
      for (const client of plan.clients) {
        const mine = rows.filter((row) => row.client === client);
        const clean = mine.filter((row) => pushFigures(row).upstream429 === 0 && pushFigures(row).users429 === 0).map((row) => row.users);
        const carried = usersCarried(mine).measured;
        lines.push(
          `- ${LABEL[client]}: no 429 from ElizaOS or the gateway in the window up to ${clean.length > 0 ? Math.max(...clean) : 'none'} of the sizes measured; ` +
            `first visits plus ${BUDGET_MINUTES} minutes at the rate measured after them stay within one budget of ${BUDGET} up to ${carried ?? 'none'}.`,
        );
      }
    }
  }
  for (const row of report.failed) lines.push('', `Not measured: ${LABEL[row.client]} × ${row.users} in front of the ${row.server} ElizaOS (${row.error}).`);
  lines.push(PUSH_FLEET_END);
  return lines.join('\n');
}
