/**
 * `npm start`: build the app when needed, start the embedded ElizaOS unless
 * ELIZA_SERVER_URL names one, start the gateway, print the URL, and stop everything
 * cleanly on Ctrl-C or SIGTERM. `npm run dev` does the same with Vite's dev server
 * (hot reload) in front of the gateway.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGateway, type Gateway } from './gateway/app';
import { exposureWarning, OptionsError, readGatewayOptions } from './gateway/options';
import { buildWhenNeeded, createLifecycle, readElizaSettings, say, startElizaFor } from './lifecycle';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dev = process.argv.includes('--dev');

async function main(): Promise<void> {
  const lifecycle = createLifecycle();
  try {
    const settings = await readElizaSettings(process.env);
    if (!dev) await buildWhenNeeded(root);
    const eliza = await startElizaFor(root, settings, lifecycle);
    const env = { ...process.env };
    if (eliza) env['PURL_GATEWAY_SECRET'] = eliza.gatewaySecret;
    const { options, warnings } = readGatewayOptions(env, eliza?.url);
    for (const warning of warnings) console.error(`purl: ${warning}`);
    const exposed = exposureWarning(options);
    if (exposed) console.error(`purl: ${exposed}`);
    const gateway: Gateway = await startGateway(options);
    lifecycle.add(gateway);
    if (dev) {
      const { createServer } = await import('vite');
      process.env['PURL_DEV_GATEWAY'] = gateway.url;
      const vite = await createServer({ root, configFile: path.join(root, 'vite.config.ts') });
      await vite.listen();
      lifecycle.add({ close: () => vite.close() });
      say(`dev server with hot reload: ${vite.resolvedUrls?.local[0] ?? 'http://127.0.0.1:5173/'}`);
    } else {
      say(`Purl is running at ${gateway.url}/  (Ctrl-C stops it)`);
    }
  } catch (error) {
    console.error(`purl: ${error instanceof OptionsError || error instanceof Error ? error.message : String(error)}`);
    await lifecycle.stop(1);
  }
}

void main();
