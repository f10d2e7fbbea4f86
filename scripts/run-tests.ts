/**
 * `npm test`: type-checks every code area, runs the unit tests (vitest) and the
 * end-to-end tests (Playwright, real Chromium, real ElizaOS through the real gateway),
 * then prints one line with the totals of every suite: `N passed, N failed`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NO_BROWSER_MESSAGE, findChromium } from '../e2e/browser';
import { hasRedisServer, NO_REDIS_MESSAGE } from '../server/cluster/redis-server';
import { hasPostgresWithVector, NO_POSTGRES_MESSAGE } from '../server/cluster/postgres-server';
import { NO_HAPROXY_MESSAGE } from '../server/cluster/settings';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const reportDir = path.join(root, 'test-report');
const bin = (name: string) => path.join(root, 'node_modules', '.bin', name);

interface Totals {
  passed: number;
  failed: number;
  skipped: number;
}

function run(label: string, command: string, args: string[]): boolean {
  console.log(`\n── ${label} ──`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: process.env });
  return result.status === 0;
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** vitest's JSON report (Jest's format). */
function unitTotals(report: unknown): Totals | undefined {
  const r = report as { numPassedTests?: number; numFailedTests?: number; numPendingTests?: number; numTodoTests?: number } | undefined;
  if (typeof r?.numPassedTests !== 'number') return undefined;
  return { passed: r.numPassedTests, failed: r.numFailedTests ?? 0, skipped: (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0) };
}

/** Playwright's JSON report. */
function e2eTotals(report: unknown): Totals | undefined {
  const stats = (report as { stats?: { expected?: number; unexpected?: number; flaky?: number; skipped?: number } } | undefined)?.stats;
  if (typeof stats?.expected !== 'number') return undefined;
  return { passed: stats.expected + (stats.flaky ?? 0), failed: stats.unexpected ?? 0, skipped: stats.skipped ?? 0 };
}

function main(): number {
  const chromium = findChromium();
  if (!chromium) {
    console.error(NO_BROWSER_MESSAGE);
    return 1;
  }
  // The shared state of several gateways is tested on a real Redis, the cluster behind a real HAProxy.
  if (!hasRedisServer()) {
    console.error(NO_REDIS_MESSAGE);
    return 1;
  }
  if (spawnSync('haproxy', ['-v'], { stdio: 'ignore' }).status !== 0) {
    console.error(NO_HAPROXY_MESSAGE);
    return 1;
  }
  // ElizaOS on PostgreSQL (POSTGRES_URL) is tested on a throwaway PostgreSQL cluster.
  if (!hasPostgresWithVector()) {
    console.error(NO_POSTGRES_MESSAGE);
    return 1;
  }
  fs.rmSync(reportDir, { recursive: true, force: true });
  fs.mkdirSync(reportDir, { recursive: true });
  const totals: Totals = { passed: 0, failed: 0, skipped: 0 };
  let ok = run('type check', 'npm', ['run', '--silent', 'typecheck']);

  const unitReport = path.join(reportDir, 'unit.json');
  ok = run('unit tests', bin('vitest'), ['run', '--reporter=default', '--reporter=json', `--outputFile=${unitReport}`]) && ok;
  const unit = unitTotals(readJson(unitReport));
  if (!unit) {
    console.error('The unit tests did not report their results.');
    ok = false;
  }

  ok = run(`end-to-end tests (Chromium: ${chromium})`, bin('playwright'), ['test']) && ok;
  const e2e = e2eTotals(readJson(path.join(reportDir, 'e2e.json')));
  if (!e2e) {
    console.error('The end-to-end tests did not report their results.');
    ok = false;
  }

  for (const suite of [unit, e2e]) {
    if (!suite) continue;
    totals.passed += suite.passed;
    totals.failed += suite.failed;
    totals.skipped += suite.skipped;
  }
  if (totals.passed === 0) ok = false;
  console.log(`\n${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`);
  return ok && totals.failed === 0 ? 0 : 1;
}

process.exitCode = main();
