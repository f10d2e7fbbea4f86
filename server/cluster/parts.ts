/**
 * The parts `npm run cluster` (server/cluster/main.ts) starts, each a function of its own
 * so that the cluster bench (bench/cluster/) starts the very same ones: a gateway
 * instance supervised on its port, HAProxy with the shipped configuration, and a Redis
 * started again when it exits.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Lifecycle, say, stopChild } from '../lifecycle';
import type { InstanceMessage } from './instance';
import { type RedisServer, startRedisServer } from './redis-server';
import { HAPROXY_CONFIG } from './settings';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const here = path.dirname(fileURLToPath(import.meta.url));

/** Runs `child` line by line into the log, each line after `prefix`, but those `quiet` matches. */
function relay(child: ChildProcess, prefix: string, quiet?: RegExp): void {
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream?.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) if (line.trim() && !quiet?.test(line)) console.log(`purl: ${prefix}: ${line.replace(/^purl: /, '')}`);
    });
  }
}

/** One command to HAProxy's runtime API; its whole answer (the admin socket, `PURL_DATA_DIR/haproxy.sock`). */
export function haproxyCommand(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const client = net.connect(socket);
    let answer = '';
    client.on('data', (chunk) => (answer += chunk.toString()));
    client.on('end', () => resolve(answer));
    client.on('error', reject);
    client.write(`${command}\n`);
  });
}

export interface Instance {
  name: string;
  address: string;
  /** The process now serving (a new one after a restart). */
  pid(): number | undefined;
}

/**
 * What every instance is given beyond `base`: the shared Redis, and loopback behind
 * HAProxy, whose X-Forwarded-For it takes (every user keeps their own limits).
 */
export function instanceEnv(base: NodeJS.ProcessEnv, redisUrl: string): NodeJS.ProcessEnv {
  return { ...base, REDIS_URL: redisUrl, HOST: '127.0.0.1', TRUST_PROXY: 'loopback' };
}

/**
 * One gateway instance on `port`, started again (after 1 s, then doubling to 30 s while
 * it keeps dying within a minute) whenever it exits while the cluster runs.
 */
export async function startInstance(name: string, port: number, env: NodeJS.ProcessEnv, lifecycle: Lifecycle): Promise<Instance> {
  let child: ChildProcess | undefined;
  let stopping = false;
  let delayMs = 1_000;
  const launch = () =>
    new Promise<void>((resolve, reject) => {
      const startedAt = Date.now();
      const made = fork(path.join(here, 'instance.ts'), [], {
        cwd: root,
        execArgv: ['--import', 'tsx'],
        env: { ...env, PORT: String(port), PURL_INSTANCE_NAME: name },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      });
      child = made;
      relay(made, name);
      made.on('message', (message: InstanceMessage) => {
        if (message.type === 'listening') resolve();
      });
      made.once('exit', (code, signal) => {
        reject(new Error(`${name} stopped before it listened (${code ?? signal}).`));
        if (stopping) return;
        // 1 s after a run of a minute or more; doubling (to 30 s) while it keeps dying sooner.
        if (Date.now() - startedAt > 60_000) delayMs = 1_000;
        const waitMs = delayMs;
        delayMs = Math.min(delayMs * 2, 30_000);
        say(`${name} (pid ${made.pid}) exited (${code ?? signal}); HAProxy sends its browsers to the other instances; starting it again in ${waitMs / 1000} s`);
        setTimeout(() => {
          if (!stopping) launch().catch((error: unknown) => say(error instanceof Error ? error.message : String(error)));
        }, waitMs).unref();
      });
    });
  lifecycle.add({
    close: async () => {
      stopping = true;
      if (child) await stopChild(child);
    },
  });
  await launch();
  return { name, address: `127.0.0.1:${port}`, pid: () => child?.pid };
}

/** Resolves once something accepts connections on `host:port`, or rejects after `timeoutMs` or when `failed()` says why. */
async function waitForPort(host: string, port: number, timeoutMs: number, failed: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = failed();
    if (why) throw new Error(why);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, host);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`HAProxy did not listen on ${host}:${port} within ${timeoutMs / 1000} s.`);
    await new Promise((wait) => setTimeout(wait, 100));
  }
}

export async function startHaproxy(bindHost: string, bindPort: number, instances: Instance[], socket: string, lifecycle: Lifecycle): Promise<ChildProcess> {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], PURL_ENTRY_BIND: `${bindHost}:${bindPort}`, PURL_HAPROXY_SOCKET: socket };
  instances.forEach((instance, i) => {
    env[`PURL_GATEWAY_${i + 1}`] = instance.address;
  });
  const haproxy = spawn('haproxy', ['-f', HAPROXY_CONFIG, '-db'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  for (const stream of [haproxy.stdout, haproxy.stderr]) stream?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4_000)));
  // Its start notices (version, executable path) say nothing the user needs.
  relay(haproxy, 'haproxy', /\[NOTICE\]/);
  let exited: string | undefined;
  let stopping = false;
  let listening = false;
  haproxy.once('exit', (code, signal) => {
    exited = `HAProxy stopped (${code ?? signal}): ${output.trim() || 'no output'}`;
    // Before it listened, the start fails with this sentence; after, the cluster has lost its one address.
    if (listening && !stopping) {
      say(exited);
      void lifecycle.stop(1);
    }
  });
  lifecycle.add({
    close: () => {
      stopping = true;
      return stopChild(haproxy);
    },
  });
  await waitForPort(bindHost === '0.0.0.0' ? '127.0.0.1' : bindHost, bindPort, 10_000, () => exited);
  listening = true;
  return haproxy;
}

export interface SupervisedRedis {
  /** Its address, password included: for the gateways only. */
  url: URL;
  /** The process now serving (a new one after a restart). */
  pid(): number;
}

/**
 * Redis for the cluster, started again on its port (after 1 s) whenever it exits while the
 * cluster runs: the gateways serve on with local state meanwhile and share again once it is
 * back. It keeps nothing on disk, so what it held (counts, copies) starts afresh.
 */
export async function superviseRedis(lifecycle: Lifecycle): Promise<SupervisedRedis> {
  let stopping = false;
  // Only the gateways know it: another local user cannot write the shared state.
  const password = randomBytes(24).toString('base64url');
  let current = await startRedisServer({ password });
  const port = current.port;
  say(`Redis is running at ${current.url.href} (pid ${current.pid})`);
  const restart = (delayMs: number) => {
    setTimeout(() => {
      if (stopping) return;
      startRedisServer({ port, password })
        .then((next) => {
          if (stopping) return void next.stop();
          current = next;
          say(`Redis is running again at ${next.url.href} (pid ${next.pid})`);
          watch(next);
        })
        .catch((error: unknown) => {
          const againMs = Math.min(delayMs * 2, 30_000);
          say(`Redis did not start again (${error instanceof Error ? error.message : String(error)}); trying again in ${againMs / 1000} s`);
          restart(againMs);
        });
    }, delayMs).unref();
  };
  const watch = (redis: RedisServer) => {
    void redis.exited.then((why) => {
      if (stopping) return;
      say(`Redis (pid ${redis.pid}) stopped (${why}); the gateways go on with local state; starting it again in 1 s`);
      restart(1_000);
    });
  };
  watch(current);
  lifecycle.add({
    close: () => {
      stopping = true;
      return current.stop();
    },
  });
  const url = new URL(current.url);
  url.password = password;
  return { url, pid: () => current.pid };
}
