/**
 * Entry point of Purl's embedded ElizaOS server: `npx tsx server/eliza/main.ts`.
 *
 * Protocol with the parent process: stdout carries `purl-eliza: <step>` progress lines and
 * then exactly one `purl-eliza ready <url> agent=<id>[,<id>…]` line (the agents in the order
 * of ELIZA_CHARACTER); failures are one sentence on stderr and exit code 1; SIGTERM or
 * SIGINT stops the server and exits 0.
 *
 * This file only wires; the logic lives in the modules it imports.
 */
import { readElizaConfig, type ElizaConfig } from './config';
import { printFailure, printProgress, printReady, routeLibraryConsoleToStderr } from './console-output';
import type { RunningEliza } from './eliza-server';
import { prepareProcessEnv } from './process-env';

/** How long a signalled shutdown may take before the process is ended anyway. */
const FORCED_EXIT_MS = 5_000;

function sentenceOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.endsWith('.') ? text : `${text}.`;
}

let config: ElizaConfig;
try {
  config = readElizaConfig(process.env, process.cwd());
} catch (error) {
  printFailure(sentenceOf(error));
  process.exit(1);
}
// Before ElizaOS is loaded: it reads the environment at import time, and must never see
// the gateway secret.
prepareProcessEnv(config, process.env);
routeLibraryConsoleToStderr();

let isShuttingDown = false;
/** Set once ElizaOS is loaded and starting; until then there is nothing to stop. */
let booting: Promise<RunningEliza> | undefined;

async function shutDown(signal: NodeJS.Signals): Promise<void> {
  if (isShuttingDown) return;
  isShuttingDown = true;
  setTimeout(() => {
    printFailure(`did not stop within ${FORCED_EXIT_MS / 1000} s of ${signal}, so exiting anyway.`);
    process.exit(1);
  }, FORCED_EXIT_MS);
  // A signal during boot lets the boot finish (or fail) first, so PGlite is never cut off
  // in the middle of its migrations.
  const eliza = await booting?.catch(() => undefined);
  await eliza?.stop();
  process.exit(0);
}

function onSignal(signal: NodeJS.Signals): void {
  shutDown(signal).catch((error: unknown) => {
    printFailure(`could not stop cleanly: ${sentenceOf(error)}`);
    process.exit(1);
  });
}
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);
// Started by Purl's launcher with an IPC channel: when the launcher dies without
// stopping us (SIGKILL, a crash), the channel closes, and we stop rather than linger.
if (process.connected) process.on('disconnect', () => onSignal('SIGTERM'));

printProgress('loading ElizaOS');
const { startEliza } = await import('./eliza-server');
const { seedConversationsOnce } = await import('./seed');
const { writeRouteTable } = await import('./route-table');
const { agentSpecs, describeAgents } = await import('./agents');

async function boot(): Promise<RunningEliza> {
  const { specs, notes } = await agentSpecs(config);
  for (const note of notes) printProgress(note);
  const eliza = await startEliza(config, specs, printProgress);
  writeRouteTable(eliza.server.app, config.dataDir);
  for (const line of describeAgents(eliza.agents, config.model)) printProgress(line);
  // Signalled while starting: do not begin seeding, the shutdown is waiting for us.
  if (isShuttingDown) return eliza;
  // The seeded conversations are about Purl and check the local model's replies; a
  // character of the user's, or a paid model, gets none.
  if (config.characterFiles !== undefined || config.model.kind !== 'local') return eliza;
  try {
    await seedConversationsOnce({
      baseUrl: config.baseUrl,
      agentId: eliza.agentId,
      authToken: config.authToken,
      dataDir: config.elizaDataDir,
      onProgress: printProgress,
    });
  } catch (error) {
    await eliza.stop().catch(() => {
      /* the seeding error is the one worth reporting */
    });
    throw error;
  }
  return eliza;
}

// A signal that came while ElizaOS was loading has already ended the process.
booting = boot();
try {
  const eliza = await booting;
  if (!isShuttingDown)
    printReady(
      config.baseUrl,
      eliza.agents.map((agent) => agent.id),
    );
} catch (error) {
  printFailure(`could not start the ElizaOS server: ${sentenceOf(error)}`);
  process.exit(1);
}
