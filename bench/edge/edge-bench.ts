/**
 * The shared edge's bench (issue 11): Purl with the edge, Purl as it was before the edge
 * ("today") and the naive client, in one run, against a stock ElizaOS that counts the
 * gateway as one client (and with `--embedded`, the embedded one that gives every user a
 * budget). `npm run bench:edge` runs it alone; `npm run bench` runs it after the rest;
 * `npm run bench:smoke` runs a tiny case of it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedEliza } from '../../server/eliza-process';
import { root } from '../sim/stack';
import { allStopped, runWindow, type RowResult, type RowSpec, type WindowSpec } from './fleet';
import { addHistory, copyDataDir } from './history';

export interface EdgeBenchOptions {
  smoke: boolean;
  /** Also the fleet against the embedded ElizaOS (per-user budgets): about 16 minutes more. */
  embedded: boolean;
}

/** Histories the bench starts ElizaOS on: its few seeded conversations, and two long ones. */
export const LONG_HISTORIES = [2_000, 20_000] as const;

export interface EdgePlan {
  fleetUsers: number[];
  fleetClients: RowSpec['client'][];
  /** Rows run together on one stock ElizaOS, each on a budget of its own: who fits in one budget. */
  budgetRows: RowSpec[];
  /** Rows run together on one ElizaOS per long history. */
  historyRows: RowSpec[];
  histories: number[];
  /** Arrivals of the fleet and budget rows, and of the long-history rows (whose first visits download the history). */
  rampMs: number;
  historyRampMs: number;
  settleMs: number;
  measureMs: number;
  embedded: boolean;
}

export function edgePlan(options: EdgeBenchOptions): EdgePlan {
  if (options.smoke)
    return {
      fleetUsers: [],
      fleetClients: [],
      budgetRows: [
        { client: 'edge', users: 4, shards: 2 },
        { client: 'today', users: 4 },
      ],
      historyRows: [],
      histories: [],
      rampMs: 2_000,
      historyRampMs: 2_000,
      settleMs: 1_000,
      measureMs: 10_000,
      embedded: false,
    };
  return {
    fleetUsers: [50, 200, 500, 1000],
    fleetClients: ['edge', 'today', 'naive'],
    budgetRows: [
      { client: 'edge', users: 10 },
      { client: 'edge', users: 20 },
      { client: 'edge', users: 35 },
      { client: 'today', users: 5 },
      { client: 'today', users: 10 },
      { client: 'naive', users: 5 },
    ],
    // Two shards a row: a simulated worker storing 20,000 memories holds its event loop for a while.
    historyRows: [
      { client: 'edge', users: 10, shards: 2 },
      { client: 'today', users: 10, shards: 2 },
      { client: 'naive', users: 10, shards: 2 },
    ],
    histories: [...LONG_HISTORIES],
    rampMs: 10_000,
    historyRampMs: 30_000,
    settleMs: 5_000,
    measureMs: 60_000,
    embedded: options.embedded,
  };
}

export interface EdgeReport {
  date: string;
  plan: EdgePlan;
  /** Memories the seeded server starts with. */
  seededMemories: number;
  fleet: RowResult[];
  embeddedFleet: RowResult[];
  budget: RowResult[];
  history: { memories: number; rows: RowResult[] }[];
  elapsedS: number;
}

const log = (line: string) => console.log(`bench: edge: ${line}`);

/**
 * Data folders to start ElizaOS on: the seeded conversations, and each long history
 * (see history.ts). Made once per run in a temporary folder.
 */
export async function makeTemplates(histories: readonly number[]): Promise<{ dirs: Map<number, string>; seeded: number; remove(): void }> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-edge-templates-'));
  const seededDir = path.join(base, 'seeded');
  log('seeding a template ElizaOS');
  const eliza = await startEmbeddedEliza({ root, dataDir: seededDir, stock: true });
  await eliza.stop();
  const seeded = await addHistory(seededDir, 0);
  const dirs = new Map<number, string>([[0, seededDir]]);
  let held = seeded;
  const work = path.join(base, 'work');
  copyDataDir(seededDir, work);
  for (const size of [...histories].sort((a, b) => a - b)) {
    const started = Date.now();
    held = await addHistory(work, size - held);
    const dir = path.join(base, String(size));
    copyDataDir(work, dir);
    dirs.set(size, dir);
    log(`history of ${held} memories written in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  return { dirs, seeded, remove: () => fs.rmSync(base, { recursive: true, force: true }) };
}

export async function runEdgeBench(options: EdgeBenchOptions): Promise<EdgeReport> {
  const plan = edgePlan(options);
  const startedAt = Date.now();
  const templates = await makeTemplates(plan.histories);
  let addressOffset = 20_000;
  const window = (label: string, rows: RowSpec[], server: WindowSpec['server'], history = 0): Promise<RowResult[]> => {
    const spec: WindowSpec = {
      rows,
      server,
      template: templates.dirs.get(history)!,
      rampMs: history > 0 ? plan.historyRampMs : plan.rampMs,
      settleMs: plan.settleMs,
      measureMs: plan.measureMs,
      tabs: 2,
      messageEveryMs: 60_000,
      addressOffset,
      label,
    };
    addressOffset += rows.reduce((sum, row) => sum + row.users, 0);
    log(`${label}: ${rows.map((row) => `${row.client} × ${row.users}`).join(', ')} (${server})`);
    return runWindow(spec);
  };
  try {
    const budget = await window('one budget', plan.budgetRows, 'stock');
    const history: EdgeReport['history'] = [];
    for (const memories of plan.histories) history.push({ memories, rows: await window(`history ${memories}`, plan.historyRows, 'stock', memories) });
    const fleet: RowResult[] = [];
    const embeddedFleet: RowResult[] = [];
    for (const server of plan.embedded ? (['stock', 'embedded'] as const) : (['stock'] as const))
      for (const users of plan.fleetUsers)
        for (const client of plan.fleetClients)
          (server === 'stock' ? fleet : embeddedFleet).push(...(await window(`fleet ${users}`, [{ client, users }], server)));
    return {
      date: new Date().toISOString().slice(0, 10),
      plan,
      seededMemories: templates.seeded,
      fleet,
      embeddedFleet,
      budget,
      history,
      elapsedS: (Date.now() - startedAt) / 1000,
    };
  } finally {
    await allStopped();
    templates.remove();
  }
}

/**
 * The smoke run's proof that the edge bench works end to end: every row was counted on
 * both sides of the gateway, through a bucket of its own, by the shards it asked for,
 * and the edge read memories upstream at most once per window for all its users.
 */
export function checkEdgeSmoke(report: EdgeReport): void {
  const problems: string[] = [];
  for (const row of report.budget) {
    const name = `${row.client} × ${row.users}`;
    const upstream = row.upstream.firstVisit.api + row.upstream.measured.api;
    if (upstream === 0) problems.push(`${name}: ElizaOS received nothing`);
    if (row.fleet.firstVisit.requests + row.fleet.measured.requests === 0) problems.push(`${name}: the users sent nothing`);
    if (row.fleet.firstVisit.bytesReceived === 0) problems.push(`${name}: no bytes counted on the users' sockets`);
    if (row.firstRemaining !== 999) problems.push(`${name}: its bucket at ElizaOS was not fresh (${row.firstRemaining} left)`);
    const spec = report.plan.budgetRows.find((planned) => planned.client === row.client && planned.users === row.users);
    if (spec?.shards !== undefined && row.fleet.shards.length !== spec.shards)
      problems.push(`${name}: ${row.fleet.shards.length} shards reported, not ${spec.shards}`);
    const reads = row.upstream.firstVisit.byKind.memories + row.upstream.measured.byKind.memories;
    const windows = Math.ceil((row.firstVisitMs + row.measureMs + 1_000) / 10_000) + 1;
    if (row.client === 'edge' && reads > windows) problems.push(`${name}: ${reads} memories reads upstream, more than one per 10-s window (${windows})`);
  }
  if (problems.length > 0) throw new Error(`the edge smoke run measured wrongly: ${problems.join('; ')}`);
}
