/**
 * `npm run bench`: every figure of BENCHMARKS.md's "Load and resilience" section, Purl
 * and the naive baseline side by side in the same run, against the real ElizaOS
 * through the real gateway. `npm run bench -- --smoke` is a one-minute run of the same
 * code with tiny sizes (CI runs it so the bench cannot rot); it writes nothing.
 * `npm run bench:outage` runs only the outage part (a few minutes) and rewrites only its
 * section of BENCHMARKS.md. `npm run bench:edge` (`--edge`) runs only the shared edge's
 * part (bench/edge/, about 22 minutes; `--embedded` adds the embedded server's fleet) and
 * rewrites only its section; `npm run bench` runs it after the rest, the smoke run a tiny case.
 * The push fan-out (bench/push/, `npm run bench:push-fanout` alone) runs last, the smoke run
 * with 200 streams, each of which must get every event.
 * `npm run bench:edge -- --render <results.json>` draws that section again from a saved run
 * (`npm run bench:cluster -- --render <results.json>` the cluster's).
 * `npm run bench:push` (`--push`) runs only push's part (bench/push/; `--embedded` adds the
 * embedded server's fleet) and rewrites only its section; `npm run bench` runs it after the
 * edge's, the smoke run a tiny case.
 * `npm run bench:cluster` (`--cluster`) runs only the cluster's part (bench/cluster/: 1000 and
 * 2000 users through 1, 2 and 3 gateways on Redis behind HAProxy, in front of a stock and of
 * the embedded ElizaOS) and rewrites only its section; `npm run bench` runs it last, the smoke run with 4 users through 2 gateways.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findChromium, NO_BROWSER_MESSAGE } from '../e2e/browser';
import { startFaultProxy } from '../e2e/fault-proxy';
import { build, needsBuild } from '../server/build';
import { writeBetween } from './benchmarks-file';
import { benchFirstPaint, benchOutage, benchTabs, launch, type FirstPaint, type OutageResult, type OutageRun, type TabsRow } from './browser-benches';
import { checkEdgeSmoke, runEdgeBench, type EdgeReport } from './edge/edge-bench';
import { EDGE_END, EDGE_START, renderEdge } from './edge/render';
import { checkPushSmoke, PUSH_FLEET_END, PUSH_FLEET_START, renderPush, runPushBench } from './push/push-bench';
import { type ClusterReport, runClusterBench } from './cluster/cluster-bench';
import { checkClusterSmoke, CLUSTER_END, CLUSTER_START, renderCluster } from './cluster/render';
import { runFleet, type FleetResult } from './fleet';
import { benchPeople } from './people/part';
import { benchPushFanout } from './push/part';
import { root, startBenchStack } from './sim/stack';
import { measureWeight, type Weight } from './weight';

const smoke = process.argv.includes('--smoke');
const outageOnly = process.argv.includes('--outage');
const edgeOnly = process.argv.includes('--edge');
const pushOnly = process.argv.includes('--push');
const clusterOnly = process.argv.includes('--cluster');
const withEmbedded = process.argv.includes('--embedded');

const plan = smoke
  ? {
      tabs: [1, 2],
      tabsWindowMs: 6_000,
      fleet: [5],
      fleetWindowMs: 10_000,
      highLoadFleet: [],
      oneAddress: [{ users: 5, windowMs: 6_000 }],
      outageTabs: 2,
      outages: 1,
      breakerTimeoutMs: 5_000,
      paintSamples: 1,
    }
  : {
      tabs: [1, 5, 10],
      tabsWindowMs: 60_000,
      fleet: [50, 200, 500],
      fleetWindowMs: 90_000,
      highLoadFleet: [50, 200, 500],
      oneAddress: [
        { users: 20, windowMs: 90_000 },
        { users: 80, windowMs: 120_000 },
      ],
      outageTabs: 5,
      outages: 5,
      breakerTimeoutMs: 10_000,
      paintSamples: 3,
    };

/** Tabs each simulated user has open (one visible, one in the background). */
const TABS_PER_USER = 2;

interface Report {
  date: string;
  weight: Weight;
  tabs: TabsRow[];
  fleet: FleetResult[];
  oneAddress: FleetResult[];
  outage: OutageResult;
  firstPaint: FirstPaint[];
  benchCpuPercent: number;
}

const log = (line: string) => console.log(`bench: ${line}`);
const ratio = (purl: number, naive: number) => (naive === 0 ? '—' : (purl / naive).toFixed(2));
const fixed = (value: number | undefined, digits = 1) => (value === undefined ? '—' : value.toFixed(digits));
const seconds = (ms: number | undefined) => (ms === undefined ? '—' : (ms / 1000).toFixed(2));

/** The value at quantile `q` (nearest rank); a missing recovery counts as the longest. */
function quantile(values: readonly (number | undefined)[], q: number): number | undefined {
  const sorted = values.map((value) => value ?? Infinity).sort((a, b) => a - b);
  const value = sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
  return value === undefined || value === Infinity ? undefined : value;
}

const OUTAGE_START = '<!-- bench:outage:start -->';
const OUTAGE_END = '<!-- bench:outage:end -->';

/** The outage section, between its own markers so `--outage` can rewrite it alone. */
function renderOutage(outage: OutageResult, command: string): string {
  const lines: string[] = [OUTAGE_START];
  const runs = outage.purl.length;
  lines.push(
    `### Outage: ${outage.tabs} tabs, server dead (connections reset, WebSockets cut, health check included) for ${outage.outageS} s, ${runs} outage${runs === 1 ? '' : 's'} in a row (${command}, breaker timeout ${plan.breakerTimeoutMs / 1000} s)`,
    '',
  );
  lines.push('| | Purl | naive |', '|---|---|---|');
  const perOutage = (list: readonly OutageRun[], pick: (run: OutageRun) => number) => list.map(pick).join(', ');
  const mean = (list: readonly OutageRun[], pick: (run: OutageRun) => number) =>
    list.length === 0 ? '—' : (list.reduce((sum, run) => sum + pick(run), 0) / list.length).toFixed(1);
  lines.push(
    `| API requests sent to the dead server, per outage | ${perOutage(outage.purl, (run) => run.requests)} (mean ${mean(outage.purl, (run) => run.requests)}) | ${perOutage(outage.naive, (run) => run.requests)} (mean ${mean(outage.naive, (run) => run.requests)}) |`,
  );
  lines.push(
    `| ElizaOS health checks meanwhile (the gateway's, one a second at most for every user) | ${perOutage(outage.purl, (run) => run.healthChecks)} | ${perOutage(outage.naive, (run) => run.healthChecks)} |`,
  );
  const answered = (list: readonly OutageRun[]) => list.map((run) => run.answeredMs);
  lines.push(
    `| first good answer after the server is back, p50 / p95 (s) | ${seconds(quantile(answered(outage.purl), 0.5))} / ${seconds(quantile(answered(outage.purl), 0.95))} | ${seconds(quantile(answered(outage.naive), 0.5))} / ${seconds(quantile(answered(outage.naive), 0.95))} |`,
  );
  const stored = outage.purl.map((run) => run.storedMs);
  lines.push(
    `| fresh data in IndexedDB after the server is back, p50 / p95 (s) | ${seconds(quantile(stored, 0.5))} / ${seconds(quantile(stored, 0.95))} | (no IndexedDB) |`,
  );
  lines.push(`| each outage's first good answer (s) | ${answered(outage.purl).map(seconds).join(', ')} | ${answered(outage.naive).map(seconds).join(', ')} |`);
  lines.push(OUTAGE_END);
  return lines.join('\n');
}

function render(report: Report): string {
  const lines: string[] = [];
  const command = '`npm run bench`';
  lines.push(
    `## Load and resilience (${report.date})`,
    '',
    `${command}, on this 2-core machine, the bench's own simulated browsers using ${report.benchCpuPercent.toFixed(0)} % CPU on average. Ratios are Purl ÷ naive, measured in the same run.`,
    '',
  );
  lines.push(
    `### Tabs: one browser, k tabs on the chat view, requests reaching the server in ${plan.tabsWindowMs / 1000} s`,
    '',
    '| tabs | Purl (Chromium) | naive | ratio | Purl k tabs ÷ 1 tab |',
    '|---|---|---|---|---|',
  );
  const oneTab = report.tabs[0]?.purl ?? 0;
  for (const row of report.tabs)
    lines.push(`| ${row.tabs} | ${row.purl} | ${row.naive} | ${ratio(row.purl, row.naive)} | ${oneTab ? (row.purl / oneTab).toFixed(2) : '—'} |`);
  lines.push(
    '',
    `### Fleet: N users, ${TABS_PER_USER} tabs each (one visible), a message about once a minute, ${plan.fleetWindowMs / 1000} s, each user on its own loopback address, each row on a freshly seeded ElizaOS`,
    '',
  );
  lines.push(
    '| client | mode | users | req/user/min | ratio | 429s | reply visible p50 / p95 (s) | typed / delivered | memories at the end | gateway CPU % / peak MB | ElizaOS CPU % / peak MB |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const row of report.fleet) {
    const naive = report.fleet.find((other) => other.client === 'naive' && other.users === row.users);
    lines.push(
      `| ${row.client} | ${row.mode} | ${row.users} | ${fixed(row.requestsPerUserPerMinute)} | ${row.client === 'purl' && naive ? ratio(row.requestsPerUserPerMinute, naive.requestsPerUserPerMinute) : ''} | ${row.rateLimited} | ${seconds(row.replyP50Ms)} / ${seconds(row.replyP95Ms)} | ${row.typed} / ${row.delivered} | ${row.serverMemories ?? '—'} | ${row.gatewayCpuPercent.toFixed(0)} / ${row.gatewayPeakMb.toFixed(0)} | ${row.elizaCpuPercent.toFixed(0)} / ${row.elizaPeakMb.toFixed(0)} |`,
    );
  }
  lines.push('', '### One address: N users behind one NAT, sharing one bucket of 1000 requests per 15 minutes', '');
  lines.push(
    '| users | window (s) | client | req/user/min | users one bucket carries (1000 ÷ 15 ÷ rate) | first 429 after (s) | 429s | typed / delivered |',
    '|---|---|---|---|---|---|---|---|',
  );
  for (const row of report.oneAddress) {
    const first429 = row.first429S === undefined ? 'none' : row.first429S.toFixed(0);
    lines.push(
      `| ${row.users} | ${row.windowS} | ${row.client} | ${fixed(row.requestsPerUserPerMinute)} | ${Math.floor(1000 / 15 / row.requestsPerUserPerMinute)} | ${first429} | ${row.rateLimited} | ${row.typed} / ${row.delivered} |`,
    );
  }
  lines.push('', renderOutage(report.outage, command));
  lines.push('', '### First paint: navigation to the first conversation on screen (median)', '', '| condition | Purl | naive |', '|---|---|---|');
  for (const row of report.firstPaint) lines.push(`| ${row.condition} | ${row.purlMs === undefined ? '—' : `${row.purlMs.toFixed(0)} ms`} | ${row.naive} |`);
  lines.push('', '### Weight', '', '| UI JavaScript (gzip) | worker (gzip) | precache |', '|---|---|---|');
  lines.push(
    `| ${(report.weight.uiJsGzipBytes / 1024).toFixed(1)} KB | ${(report.weight.workerGzipBytes / 1024).toFixed(1)} KB | ${(report.weight.precacheBytes / 1024).toFixed(1)} KB in ${report.weight.precacheEntries} files |`,
  );
  return lines.join('\n');
}

function writeReport(markdown: string): void {
  writeBetween('<!-- bench:start -->', '<!-- bench:end -->', markdown);
}

/** `--outage`: the outage part alone, written over its own section. */
/** ElizaOS, the fault proxy in front of it, a gateway in front of that, and Chromium (built first if needed). */
async function startBrowserStack() {
  const executablePath = findChromium();
  if (!executablePath) throw new Error(NO_BROWSER_MESSAGE);
  if (needsBuild(root)) await build(root);
  log('starting ElizaOS and the gateway');
  const stack = await startBenchStack();
  const proxy = await startFaultProxy(stack.eliza.url.href.replace(/\/$/, ''));
  const proxied = await stack.startGateway({ CIRCUIT_BREAKER_TIMEOUT: String(plan.breakerTimeoutMs) }, proxy.url);
  const browser = await launch(executablePath);
  return { stack, proxy, proxied, browser };
}

async function mainOutage(): Promise<void> {
  const { stack, proxy, proxied, browser } = await startBrowserStack();
  try {
    log('outage');
    const outage = await benchOutage(browser, proxied.url, proxy, outagePlan());
    const markdown = renderOutage(outage, '`npm run bench:outage`');
    console.log(`\n${markdown}\n`);
    if (!smoke) writeBetween(OUTAGE_START, OUTAGE_END, markdown);
  } finally {
    await browser.close().catch(() => undefined);
    await proxied.stop();
    await proxy.close();
    await stack.stop();
  }
}

/** `--render <file>`: the edge section made again from a run's saved results (the tables only change with the code that draws them). */
function renderSavedEdge(file: string): void {
  const report = JSON.parse(fs.readFileSync(file, 'utf8')) as EdgeReport;
  const command = report.embeddedFleet.length > 0 ? '`npm run bench:edge -- --embedded`' : '`npm run bench:edge`';
  writeBetween(EDGE_START, EDGE_END, renderEdge(report, command));
  log(`BENCHMARKS.md: the edge section drawn again from ${file}`);
}

/** The shared edge's part (issue 11): its own stacks, so it runs after the browsers are closed. */
async function benchEdge(command: string): Promise<void> {
  if (needsBuild(root)) await build(root);
  log('shared edge');
  const report = await runEdgeBench({ smoke, embedded: withEmbedded });
  const markdown = renderEdge(report, command);
  console.log(`\n${markdown}\n`);
  // Every figure of the run, for a second look beyond the tables.
  const raw = path.join(os.tmpdir(), `purl-edge-bench-${report.date}-${process.pid}.json`);
  fs.writeFileSync(raw, `${JSON.stringify(report, null, 1)}\n`);
  log(`the edge bench's raw results are in ${raw}`);
  if (smoke) checkEdgeSmoke(report);
  else writeBetween(EDGE_START, EDGE_END, markdown);
  log(`shared edge finished in ${report.elapsedS.toFixed(0)} s`);
}

/** Push's part (issue 12): its own stacks, after the edge's. */
async function benchPush(command: string): Promise<void> {
  if (needsBuild(root)) await build(root);
  log('push');
  const report = await runPushBench({ smoke, embedded: withEmbedded });
  const markdown = renderPush(report, command);
  console.log(`\n${markdown}\n`);
  const raw = path.join(os.tmpdir(), `purl-push-bench-${report.date}-${process.pid}.json`);
  fs.writeFileSync(raw, `${JSON.stringify(report, null, 1)}\n`);
  log(`the push bench's raw results are in ${raw}`);
  if (smoke) checkPushSmoke(report);
  else writeBetween(PUSH_FLEET_START, PUSH_FLEET_END, markdown);
  log(`push finished in ${report.elapsedS.toFixed(0)} s`);
}

/** `--cluster --render <file>`: the cluster section made again from a run's saved results. */
function renderSavedCluster(file: string): void {
  const report = JSON.parse(fs.readFileSync(file, 'utf8')) as ClusterReport;
  writeBetween(CLUSTER_START, CLUSTER_END, renderCluster(report, '`npm run bench:cluster`'));
  log(`BENCHMARKS.md: the cluster section drawn again from ${file}`);
}

/** The cluster's part (issue 13): its own stacks, after push's. */
async function benchCluster(command: string): Promise<void> {
  if (needsBuild(root)) await build(root);
  log('cluster');
  const report = await runClusterBench({ smoke });
  const markdown = renderCluster(report, command);
  console.log(`\n${markdown}\n`);
  const raw = path.join(os.tmpdir(), `purl-cluster-bench-${report.date}-${process.pid}.json`);
  fs.writeFileSync(raw, `${JSON.stringify(report, null, 1)}\n`);
  log(`the cluster bench's raw results are in ${raw}`);
  if (smoke) checkClusterSmoke(report);
  else writeBetween(CLUSTER_START, CLUSTER_END, markdown);
  log(`cluster finished in ${report.elapsedS.toFixed(0)} s`);
}

function outagePlan() {
  return { tabs: plan.outageTabs, outageMs: 2 * plan.breakerTimeoutMs, outages: plan.outages, breakerTimeoutMs: plan.breakerTimeoutMs, addressOffset: 9_100 };
}

async function main(): Promise<void> {
  // Built before the CPU clock starts: the figure is the simulated browsers' share.
  if (needsBuild(root)) await build(root);
  const cpuAtStart = process.cpuUsage();
  const startedAt = Date.now();
  const { stack, proxy, proxied, browser } = await startBrowserStack();
  try {
    const weight = measureWeight(path.join(root, 'dist'));
    log('tabs');
    const tabs = await benchTabs(browser, proxied.url, proxy, plan.tabs, plan.tabsWindowMs, 9_000);
    log('outage');
    const outage = await benchOutage(browser, proxied.url, proxy, outagePlan());
    log('first paint');
    const firstPaint = await benchFirstPaint(browser, proxied.url, proxy, plan.paintSamples);
    await browser.close();
    await proxied.stop();

    // Each row runs on a freshly seeded ElizaOS of its own, so every row starts from the
    // same state: ElizaOS returns every memory on each memories read, and the history an
    // earlier row left behind would otherwise load the next row's users and server.
    const fleet: FleetResult[] = [];
    let offset = 0;
    const run = async (client: 'purl' | 'naive', users: number, highLoad: boolean, oneAddress?: string, windowMs?: number) => {
      log(`fleet: ${client}${highLoad ? ' (high load)' : ''}, ${users} users${oneAddress ? ` behind ${oneAddress}` : ''}`);
      const rowStack = await startBenchStack();
      try {
        const result = await runFleet({
          client,
          users,
          highLoad,
          tabs: TABS_PER_USER,
          windowMs: windowMs ?? plan.fleetWindowMs,
          addressOffset: offset,
          gatewayUrl: rowStack.gatewayUrl,
          gatewayPid: rowStack.gatewayPid,
          elizaPid: rowStack.eliza.pid,
          run: `${client}-${users}-${highLoad ? 'h' : 'n'}-${offset}`,
          ...(oneAddress ? { oneAddress } : {}),
        });
        offset += users;
        log(JSON.stringify(result));
        return result;
      } finally {
        await rowStack.stop();
      }
    };
    for (const users of plan.fleet) {
      fleet.push(await run('purl', users, false));
      if (plan.highLoadFleet.includes(users)) fleet.push(await run('purl', users, true));
      fleet.push(await run('naive', users, false));
    }
    const oneAddress: FleetResult[] = [];
    for (const [i, row] of plan.oneAddress.entries()) {
      oneAddress.push(await run('purl', row.users, false, `127.0.250.${2 * i + 1}`, row.windowMs));
      oneAddress.push(await run('naive', row.users, false, `127.0.250.${2 * i + 2}`, row.windowMs));
    }

    const elapsedS = (Date.now() - startedAt) / 1000;
    const cpu = process.cpuUsage(cpuAtStart);
    const report: Report = {
      date: new Date().toISOString().slice(0, 10),
      weight,
      tabs,
      fleet,
      oneAddress,
      outage,
      firstPaint,
      benchCpuPercent: (100 * (cpu.user + cpu.system)) / 1e6 / elapsedS,
    };
    const markdown = render(report);
    console.log(`\n${markdown}\n`);
    if (smoke) {
      // The smoke run proves the bench works end to end; its windows are too short for
      // every figure to be non-zero (Purl may rightly send nothing in a few seconds), so
      // it checks that each part measured traffic at all.
      const tabsMeasured = tabs.reduce((total, row) => total + row.purl + row.naive, 0) > 0;
      const fleetMeasured = [...fleet, ...oneAddress].every((row) => row.requests > 0);
      const painted = firstPaint.every((row) => row.purlMs !== undefined);
      const recovered = [...outage.purl, ...outage.naive].every((run) => run.answeredMs !== undefined);
      if (!tabsMeasured || !fleetMeasured || !painted || !recovered) throw new Error('the smoke run measured nothing: the bench is broken');
      log(`smoke run finished in ${elapsedS.toFixed(0)} s`);
    } else {
      writeReport(markdown);
      log(`BENCHMARKS.md updated (${elapsedS.toFixed(0)} s)`);
    }
  } finally {
    await browser.close().catch(() => undefined);
    await proxy.close();
    await stack.stop();
  }
  await benchEdge(smoke ? '`npm run bench:smoke`' : '`npm run bench`');
  await benchPush(smoke ? '`npm run bench:smoke`' : '`npm run bench`');
  await benchPushFanout(smoke, smoke ? '`npm run bench:smoke`' : '`npm run bench`', log);
  await benchCluster(smoke ? '`npm run bench:smoke`' : '`npm run bench`');
  // The people steps' cost per request (BENCHMARKS.md records `npm run bench:people`'s table).
  log(`people:\n${await benchPeople(smoke, log)}`);
}

const pushCommand = withEmbedded ? '`npm run bench:push -- --embedded`' : '`npm run bench:push`';
const edgeCommand = smoke ? '`npm run bench:smoke`' : withEmbedded ? '`npm run bench:edge -- --embedded`' : '`npm run bench:edge`';
const savedEdge = process.argv.indexOf('--render');
(savedEdge > 0
  ? Promise.resolve(clusterOnly ? renderSavedCluster(process.argv[savedEdge + 1] ?? '') : renderSavedEdge(process.argv[savedEdge + 1] ?? ''))
  : outageOnly
    ? mainOutage()
    : edgeOnly
      ? benchEdge(edgeCommand)
      : pushOnly
        ? benchPush(pushCommand)
        : clusterOnly
          ? benchCluster(smoke ? '`npm run bench:smoke`' : '`npm run bench:cluster`')
          : main()
).catch((error: unknown) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
