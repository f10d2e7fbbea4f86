/**
 * `npm run cluster`: Purl past one gateway process (docs/cluster.md). It starts Redis
 * (unless REDIS_URL names one), the embedded ElizaOS (unless ELIZA_SERVER_URL names one),
 * PURL_INSTANCES gateway instances (3 by default), each a process of its own on loopback,
 * and HAProxy (Debian's package) in front of them as the one address browsers use,
 * HOST:PORT (127.0.0.1:5174 by default), with the shipped server/cluster/haproxy.cfg. An
 * instance that dies is started again on its port; HAProxy sends its browsers to the
 * others meanwhile. Ctrl-C or SIGTERM stops everything.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../eliza-process';
import { exposureWarning, readGatewayOptions } from '../gateway/options';
import { buildWhenNeeded, createLifecycle, readElizaSettings, say, startElizaFor } from '../lifecycle';
import { type Instance, instanceEnv, startHaproxy, startInstance, superviseRedis } from './parts';
import { readSettings } from '../settings/read';
import { CLUSTER_TLS_MESSAGE, NO_HAPROXY_MESSAGE } from './settings';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

async function main(): Promise<void> {
  const lifecycle = createLifecycle();
  try {
    const settings = readSettings(process.env);
    const count = settings.PURL_INSTANCES;
    if (settings.TLS_CERT_FILE || settings.TLS_KEY_FILE) throw new Error(CLUSTER_TLS_MESSAGE);
    if (spawnSync('haproxy', ['-v'], { stdio: 'ignore' }).status !== 0) throw new Error(NO_HAPROXY_MESSAGE);
    const embedded = await readElizaSettings(process.env);
    await buildWhenNeeded(root);
    const redisUrl = settings.REDIS_URL?.href ?? (await superviseRedis(lifecycle)).url.href;
    const eliza = await startElizaFor(root, embedded, lifecycle);
    const entryHost = settings.HOST;
    const dataDir = path.resolve(root, settings.PURL_DATA_DIR);
    fs.mkdirSync(dataDir, { recursive: true });
    // The instances listen on loopback behind HAProxy and take its X-Forwarded-For; they answer to the entry's name.
    const env = instanceEnv(process.env, redisUrl);
    if (net.isIP(entryHost) === 0) env['PURL_ALLOWED_HOSTS'] = [...(settings.PURL_ALLOWED_HOSTS ?? []), entryHost].join(',');
    if (eliza) {
      env['ELIZA_SERVER_URL'] = eliza.url.href;
      env['PURL_GATEWAY_SECRET'] = eliza.gatewaySecret;
    }
    // Checked once here (a bad value stops the cluster with its sentence); this also makes the push key every instance reads.
    const { options, warnings } = readGatewayOptions(env);
    for (const warning of warnings) console.error(`purl: ${warning}`);
    const entryPort = settings.PORT;
    const exposed = exposureWarning({ ...options, host: entryHost });
    if (exposed) console.error(`purl: ${exposed}`);
    const instances: Instance[] = [];
    for (let i = 1; i <= count; i++) instances.push(await startInstance(`gateway${i}`, await freePort(), env, lifecycle));
    say(`${count} gateway instances: ${instances.map((instance) => `${instance.name} ${instance.address} (pid ${instance.pid()})`).join(', ')}`);
    const socket = path.join(dataDir, 'haproxy.sock');
    await startHaproxy(entryHost, entryPort, instances, socket, lifecycle);
    say(`HAProxy's admin socket: ${socket}`);
    say(`Purl is running at http://${entryHost}:${entryPort}/  (HAProxy in front of ${count} gateways, state shared in Redis; Ctrl-C stops it)`);
  } catch (error) {
    console.error(`purl: ${error instanceof Error ? error.message : String(error)}`);
    await lifecycle.stop(1);
  }
}

void main();
