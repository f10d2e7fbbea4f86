/**
 * What `npm start` and `npm run cluster` share: the parts they started, stopped in reverse
 * order on Ctrl-C, SIGTERM or the loss of the shell that ran them; the app built when
 * needed; the embedded ElizaOS started unless ELIZA_SERVER_URL names one.
 */
import path from 'node:path';
import { build, needsBuild } from './build';
import { startEmbeddedEliza, type EmbeddedEliza } from './eliza-process';

export { stopChild } from './eliza-process';
import { readEmbeddedSettings } from './embedded-settings';
import { readSettings } from './settings/read';

export const say = (line: string) => console.log(`purl: ${line}`);

export interface Running {
  close(): Promise<void>;
}

export interface Lifecycle {
  /** Stopped (in reverse order) when the process stops. */
  add(part: Running): void;
  /** Stops every part and exits with `code`. */
  stop(code: number): Promise<void>;
}

export function createLifecycle(): Lifecycle {
  const running: Running[] = [];
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping…');
    for (const part of running.reverse()) await part.close().catch(() => undefined);
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  // `npm start` runs us under a shell that dies on SIGTERM without passing it on; we
  // notice by being handed to another parent, and stop instead of lingering.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) void stop(0);
  }, 1_000).unref();
  return { add: (part) => running.push(part), stop };
}

/** Builds the app when its sources are newer than `dist/`. */
export async function buildWhenNeeded(root: string): Promise<void> {
  if (!needsBuild(root)) return;
  say('building the app…');
  await build(root);
}

/**
 * The embedded ElizaOS, started unless ELIZA_SERVER_URL names a server (then undefined).
 * Checked before anything is built or started: a bad character file or provider URL
 * stops the start at once. Relative character paths are read from where npm was typed.
 */
export async function readElizaSettings(env: NodeJS.ProcessEnv) {
  const settings = readSettings(env);
  const external = settings.ELIZA_SERVER_URL !== undefined;
  if (external && settings.ELIZA_CHARACTER) {
    console.error('purl: ELIZA_CHARACTER is not used: ELIZA_SERVER_URL names a server that runs its own agents.');
  }
  return external ? undefined : await readEmbeddedSettings(env, settings.INIT_CWD ?? process.cwd());
}

/** Starts the embedded ElizaOS with `settings` (from {@link readElizaSettings}); undefined when a server is named instead. */
export async function startElizaFor(
  root: string,
  settings: Awaited<ReturnType<typeof readElizaSettings>>,
  lifecycle: Lifecycle,
): Promise<EmbeddedEliza | undefined> {
  if (!settings) return undefined;
  const seeds = settings.characterFiles === undefined && settings.model.kind === 'local';
  say(`starting the embedded ElizaOS server${seeds ? ' (first start takes a few seconds more: it seeds conversations)' : ''}…`);
  const started = Date.now();
  const eliza = await startEmbeddedEliza({
    root,
    dataDir: path.resolve(root, settings.dataDir),
    port: settings.port,
    logLevel: settings.logLevel,
    characterFiles: settings.characterFiles,
    ...(settings.postgresUrl ? { postgresUrl: settings.postgresUrl } : {}),
    onProgress: (line) => say(`  ElizaOS: ${line}`),
  });
  lifecycle.add({ close: () => eliza.stop() });
  say(`ElizaOS is ready (${((Date.now() - started) / 1000).toFixed(1)} s), ${eliza.agentIds.length === 1 ? 'agent' : 'agents'} ${eliza.agentIds.join(', ')}`);
  return eliza;
}
