/**
 * The real server side for the benchmarks, each part in its own process so its CPU and
 * memory can be measured: the embedded ElizaOS, and the gateway (`npm start`'s program
 * with ELIZA_SERVER_URL set, so it starts only the gateway).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmbeddedEliza, type EmbeddedEliza } from '../../server/eliza-process';
import { stopChild } from '../../server/lifecycle';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface BenchStack {
  eliza: EmbeddedEliza;
  gatewayUrl: string;
  gatewayPid: number;
  /** Starts another gateway on the same ElizaOS (e.g. in front of a fault proxy). */
  startGateway(env: Record<string, string>, upstream?: string): Promise<{ url: string; pid: number; stop: () => Promise<void> }>;
  stop(): Promise<void>;
}

export interface SpawnedGateway {
  url: string;
  pid: number;
  stop: () => Promise<void>;
}

/** The gateway (`npm start`'s program) in a process of its own, with only `env` (and PATH, HOME, PORT=0) set. */
export async function spawnGateway(env: Record<string, string>): Promise<SpawnedGateway> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'server', 'start.ts')], {
    cwd: root,
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const running = /Purl is running at (http:\/\/\S+?)\/? /.exec(output);
      if (running) resolve(running[1]!);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the gateway exited (${code}): ${output}`)));
  });
  return { url, pid: child.pid!, stop: () => stopChild(child) };
}

export async function startBenchStack(gatewayEnv: Record<string, string> = {}): Promise<BenchStack> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-bench-'));
  const eliza = await startEmbeddedEliza({ root, dataDir });
  const gateways: SpawnedGateway[] = [];

  async function startGateway(env: Record<string, string>, upstream?: string) {
    const gateway = await spawnGateway({ ELIZA_SERVER_URL: upstream ?? eliza.url.href, PURL_GATEWAY_SECRET: eliza.gatewaySecret, ...env });
    gateways.push(gateway);
    return gateway;
  }

  const main = await startGateway(gatewayEnv);
  return {
    eliza,
    gatewayUrl: main.url,
    gatewayPid: main.pid,
    startGateway,
    async stop() {
      for (const gateway of gateways) await gateway.stop();
      await eliza.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
