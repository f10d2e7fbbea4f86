/** The push fan-out part, as `npm run bench:push-fanout` and bench/run.ts run it: measure, print, then check (smoke) or record. */
import { writeBetween } from '../benchmarks-file';
import { checkPushSmoke, FULL_PLAN, runPushBench, SMOKE_PLAN } from './bench';
import { PUSH_END, PUSH_START, renderPush } from './render';

/** Runs the bench (`smoke`: 200 streams, every one must get every event, nothing written); `command` is what the section says ran it. */
export async function benchPushFanout(smoke: boolean, command: string, log: (line: string) => void): Promise<void> {
  log('push fan-out');
  const report = await runPushBench(smoke ? SMOKE_PLAN : FULL_PLAN, log);
  const markdown = renderPush(report, command);
  console.log(`\n${markdown}\n`);
  if (smoke) {
    checkPushSmoke(report);
    log(`push fan-out smoke run finished in ${report.elapsedS.toFixed(0)} s`);
  } else {
    writeBetween(PUSH_START, PUSH_END, markdown);
    log(`BENCHMARKS.md: the push section updated (${report.elapsedS.toFixed(0)} s)`);
  }
}
