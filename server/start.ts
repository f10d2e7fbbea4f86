/**
 * `npm start`: build the app when needed, start the embedded ElizaOS unless
 * ELIZA_SERVER_URL names one, start the gateway, print the URL, and stop everything
 * cleanly on Ctrl-C or SIGTERM. `npm run dev` does the same with Vite's dev server
 * (hot reload) in front of the gateway.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, needsBuild } from './build';
import { startEmbeddedEliza, type EmbeddedEliza } from './eliza-process';
import { readEmbeddedSettings } from './embedded-settings';
import { startGateway, type Gateway } from './gateway/app';
import { exposureWarning, OptionsError, readGatewayOptions } from './gateway/options';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dev = process.argv.includes('--dev');
const say = (line: string) => console.log(`purl: ${line}`);

interface Running {
  close(): Promise<void>;
}

async function main(): Promise<void> {
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

  try {
    const external = Boolean(process.env['ELIZA_SERVER_URL']);
    // Checked before anything is built or started: a bad character file or provider URL stops
    // the start at once. Relative character paths are read from where `npm start` was typed.
    const settings = external ? undefined : await readEmbeddedSettings(process.env, process.env['INIT_CWD'] || process.cwd());
    if (external && process.env['ELIZA_CHARACTER']) {
      console.error('purl: ELIZA_CHARACTER is not used: ELIZA_SERVER_URL names a server that runs its own agents.');
    }
    if (!dev && needsBuild(root)) {
      say('building the app…');
      await build(root);
    }
    let eliza: EmbeddedEliza | undefined;
    if (settings) {
      const seeds = settings.characterFiles === undefined && settings.model.kind === 'local';
      say(`starting the embedded ElizaOS server${seeds ? ' (first start takes a few seconds more: it seeds conversations)' : ''}…`);
      const started = Date.now();
      eliza = await startEmbeddedEliza({
        root,
        dataDir: path.resolve(root, process.env['PURL_DATA_DIR'] || '.purl-data'),
        port: Number(process.env['ELIZA_PORT'] || 0),
        characterFiles: settings.characterFiles,
        onProgress: (line) => say(`  ElizaOS: ${line}`),
      });
      running.push({ close: () => eliza!.stop() });
      say(
        `ElizaOS is ready (${((Date.now() - started) / 1000).toFixed(1)} s), ${eliza.agentIds.length === 1 ? 'agent' : 'agents'} ${eliza.agentIds.join(', ')}`,
      );
    }
    const env = { ...process.env };
    if (eliza) env['PURL_GATEWAY_SECRET'] = eliza.gatewaySecret;
    const { options, warnings } = readGatewayOptions(env, eliza?.url);
    for (const warning of warnings) console.error(`purl: ${warning}`);
    const exposed = exposureWarning(options);
    if (exposed) console.error(`purl: ${exposed}`);
    if (dev && !process.env['PORT']) options.port = 5174;
    const gateway: Gateway = await startGateway(options);
    running.push(gateway);
    if (dev) {
      const { createServer } = await import('vite');
      process.env['PURL_DEV_GATEWAY'] = gateway.url;
      const vite = await createServer({ root, configFile: path.join(root, 'vite.config.ts') });
      await vite.listen();
      running.push({ close: () => vite.close() });
      say(`dev server with hot reload: ${vite.resolvedUrls?.local[0] ?? 'http://127.0.0.1:5173/'}`);
    } else {
      say(`Purl is running at ${gateway.url}/  (Ctrl-C stops it)`);
    }
  } catch (error) {
    console.error(`purl: ${error instanceof OptionsError || error instanceof Error ? error.message : String(error)}`);
    await stop(1);
  }
}

void main();
