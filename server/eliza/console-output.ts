/**
 * Keeps stdout for Purl's own lines. The parent process reads stdout for the ready line;
 * ElizaOS and its dependencies print banners and logs with console.log/info/debug,
 * which are sent to stderr instead.
 */

/** Prefix of every line this program writes. */
export const LINE_PREFIX = 'purl-eliza';

/** Sends library output written with console.log, console.info and console.debug to stderr. */
export function routeLibraryConsoleToStderr(): void {
  console.log = console.error;
  console.info = console.error;
  console.debug = console.error;
}

/** A short progress line on stdout: `purl-eliza: <step>`. */
export function printProgress(step: string): void {
  process.stdout.write(`${LINE_PREFIX}: ${step}\n`);
}

/** The one line that tells the parent the server is usable, with its agents' ids. */
export function printReady(baseUrl: string, agentIds: readonly string[]): void {
  process.stdout.write(`${LINE_PREFIX} ready ${baseUrl} agent=${agentIds.join(',')}\n`);
}

/** One sentence on stderr: what went wrong, for a person, not a stack. */
export function printFailure(sentence: string): void {
  process.stderr.write(`${LINE_PREFIX}: ${sentence}\n`);
}
