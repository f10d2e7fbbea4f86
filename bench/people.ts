/**
 * `npm run bench:people`: what the people steps (the identity cookie, each session's owner)
 * cost the gateway per request against the same gateway without them, in the same run
 * (bench/people/part.ts). Prints its table; `-- --smoke` runs a few hundred requests.
 * `npm run bench:smoke` runs the smoke case too.
 */
import { benchPeople } from './people/part';

const smoke = process.argv.includes('--smoke');

benchPeople(smoke, (line) => console.log(`bench: ${line}`))
  .then((table) => console.log(table))
  .catch((error: unknown) => {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
