/**
 * A row's front for the cluster bench: what `npm run cluster` starts, started by its own
 * functions (server/cluster/parts.ts): a Redis of the row's own (loopback, a password,
 * nothing on disk), N gateway instances on it, and HAProxy with the shipped
 * server/cluster/haproxy.cfg as the users' one address. The counting proxy in front of
 * ElizaOS is the row's (bench/edge/fleet.ts), so every instance spends one budget, as a
 * cluster in front of a stock ElizaOS does.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClient } from 'redis';
import { freePort } from '../../server/eliza-process';
import type { Lifecycle, Running } from '../../server/lifecycle';
import { haproxyCommand, instanceEnv, startHaproxy, startInstance } from '../../server/cluster/parts';
import { startRedisServer } from '../../server/cluster/redis-server';
import type { Front, StartFront } from '../edge/fleet';
import { parseHaproxyStat, parseRedisInfo } from './counters';

/**
 * The runner's lifecycle for one row: parts stopped in reverse order when the row ends,
 * without exiting. A part that gives up on its own (HAProxy exiting) is said in the log:
 * the row's figures then show it.
 */
function rowLifecycle(log: (line: string) => void): Lifecycle & { close(): Promise<void> } {
  const running: Running[] = [];
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const part of running.reverse()) await part.close().catch(() => undefined);
  };
  return {
    add: (part) => running.push(part),
    stop: async (code) => {
      if (!closed) log(`a part of the cluster stopped (${code}) while the row ran: its figures are not to be trusted`);
    },
    close,
  };
}

/** A cluster of `instances` gateways as a row's front. */
export function clusterFront(instances: number, log: (line: string) => void): StartFront {
  return async (env): Promise<Front> => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-cluster-bench-'));
    const lifecycle = rowLifecycle(log);
    const stop = async () => {
      await lifecycle.close();
      fs.rmSync(dir, { recursive: true, force: true });
    };
    try {
      // As npm run cluster's own Redis: a password only the gateways (and the bench's counter reader) know.
      const password = randomBytes(24).toString('base64url');
      const redis = await startRedisServer({ password });
      lifecycle.add({ close: () => redis.stop() });
      const redisUrl = new URL(redis.url);
      redisUrl.password = password;
      const base = instanceEnv({ PATH: process.env['PATH'], HOME: process.env['HOME'], ...env }, redisUrl.href);
      const started = await Promise.all(Array.from({ length: instances }, async (_, i) => startInstance(`gateway${i + 1}`, await freePort(), base, lifecycle)));
      const socket = path.join(dir, 'haproxy.sock');
      const port = await freePort();
      const haproxy = await startHaproxy('127.0.0.1', port, started, socket, lifecycle);
      // The bench's own connection: AUTH and the client's hello before the first snapshot, then only INFO (taken off the counts).
      const reader = createClient({ url: redisUrl.href });
      reader.on('error', () => undefined);
      await reader.connect();
      lifecycle.add({ close: async () => reader.destroy() });
      return {
        url: `http://127.0.0.1:${port}`,
        processes: [
          ...started.map((instance) => ({ name: instance.name, pid: instance.pid()! })),
          { name: 'haproxy', pid: haproxy.pid! },
          { name: 'redis', pid: redis.pid },
        ],
        snapshot: async () => {
          const [info, stat] = await Promise.all([reader.sendCommand(['INFO', 'stats', 'commandstats']), haproxyCommand(socket, 'show stat')]);
          return { ...parseRedisInfo(String(info)), ...parseHaproxyStat(stat) };
        },
        stop,
      };
    } catch (error) {
      await stop();
      throw error;
    }
  };
}
