/**
 * `npm run bench:push-fanout`: how many idle push streams one gateway process holds
 * (issue 12): memory per stream, the time to open them, and the time one event takes to
 * reach them all, at 1,000, 5,000 and 10,000 streams against a bare Node server in the
 * same run (bench/push/; about 3 minutes). Rewrites its section of BENCHMARKS.md.
 * `-- --smoke` runs 200 streams, checks that every one got every event and writes
 * nothing; `npm run bench:smoke` runs that case too.
 */
import { benchPushFanout } from './push/part';

const smoke = process.argv.includes('--smoke');

benchPushFanout(smoke, smoke ? '`npm run bench:push-fanout -- --smoke`' : '`npm run bench:push-fanout`', (line) => console.log(`bench: ${line}`)).catch(
  (error: unknown) => {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
