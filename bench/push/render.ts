/** The push fan-out bench's section of BENCHMARKS.md, drawn from a report (pure). */
import type { PushReport, PushRow } from './bench';

export const PUSH_START = '<!-- bench:push:start -->';
export const PUSH_END = '<!-- bench:push:end -->';

const kb = (bytes: number) => (bytes / 1024).toFixed(1);
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
const ms = (value: number) => (Number.isNaN(value) ? '—' : value < 10 ? value.toFixed(1) : value.toFixed(0));
const ratio = (value: number, baseline: number | undefined) =>
  baseline === undefined || baseline <= 0 || Number.isNaN(value) ? '—' : (value / baseline).toFixed(1);

function label(row: PushRow): string {
  if (row.server === 'bare') return 'bare Node (baseline)';
  return row.channels === 'one' ? 'gateway, one channel' : 'gateway, a channel each';
}

export function renderPush(report: PushReport, command: string): string {
  const { plan } = report;
  const lines = [
    PUSH_START,
    `### Measured ${report.date} with ${command} (${report.elapsedS.toFixed(0)} s; load average ${report.load[0].toFixed(1)} at the start, ${report.load[1].toFixed(1)} at the end, on 2 cores)`,
    '',
    `Each row is a fresh server process holding N idle event streams, opened ${plan.maxStreamsPerClient} from each loopback address (WS_MAX_CONNECTIONS_PER_IP=${plan.maxStreamsPerClient}) by 1 to 4 client processes. ` +
      `Memory is the server's growth from before the first stream to after ${plan.idleMs > 0 ? `${plan.idleMs / 1000} s idle` : 'the last one opened'}, after a full collection, per stream. ` +
      `Fan-out: ${plan.rounds} broadcast${plan.rounds === 1 ? '' : 's'}, each from the upstream's emit to every stream's receipt (all deliveries together); with a channel each, one message goes to every channel at once (N emits). ` +
      '÷ = the gateway ÷ the bare Node server with the same N, in the same run.',
    '',
    '| N | server | opened | open N (s) | ÷ | RSS / stream (KB) | heap / stream (KB) | ÷ (heap) | RSS / heap after (MB) | server CPU to open (ms per 1,000) | idle CPU % | fan-out p50 / p95 / max (ms) | ÷ (p95) | delivered | server CPU per fan-out (ms) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const row of report.rows) {
    const bare = report.rows.find((other) => other.server === 'bare' && other.streams === row.streams);
    const against = row.server === 'bare' ? undefined : bare;
    const { fanOut } = row;
    lines.push(
      `| ${row.streams.toLocaleString('en')} | ${label(row)} | ${row.opened}${row.failures > 0 ? ` (${row.failures} failed: ${row.firstFailure})` : ''} | ${(row.openMs / 1000).toFixed(2)} | ${ratio(row.openMs, against?.openMs)} | ${kb(row.rssPerStreamBytes)} | ${kb(row.heapPerStreamBytes)} | ${ratio(row.heapPerStreamBytes, against?.heapPerStreamBytes)} | ${mb(row.rssAfterBytes)} / ${mb(row.heapAfterBytes)} | ${((row.openCpuMs * 1000) / row.streams).toFixed(0)} | ${row.idleCpuPercent === undefined ? '—' : row.idleCpuPercent.toFixed(1)} | ${ms(fanOut.p50Ms)} / ${ms(fanOut.p95Ms)} / ${ms(fanOut.maxMs)} | ${ratio(fanOut.p95Ms, against?.fanOut.p95Ms)} | ${fanOut.delivered} / ${fanOut.expected} | ${row.fanOutCpuMs.toFixed(0)} |`,
    );
  }
  lines.push(PUSH_END);
  return lines.join('\n');
}
