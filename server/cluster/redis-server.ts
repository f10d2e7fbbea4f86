/**
 * Runs Debian's `redis-server` as a child process: for `npm run cluster` when no REDIS_URL
 * names one, and for the tests of the shared state. It listens on loopback only, keeps
 * nothing on disk (no RDB snapshot, no append-only file: the gateways' state is
 * short-lived and rebuilt after a restart), and is stopped with its parent.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { freePort } from '../eliza-process';

export const NO_REDIS_MESSAGE = 'redis-server is not on PATH. Install it with `apt-get install redis-server` (Debian), or name a running Redis with REDIS_URL.';

export interface RedisServer {
  url: URL;
  port: number;
  pid: number;
  /** Resolves when it exits, whoever stopped it, with why. */
  exited: Promise<string>;
  /** Stops it (SIGTERM, then SIGKILL after 2 s) and resolves once it has exited. */
  stop(): Promise<void>;
}

/** Whether `redis-server` can be run here. */
export function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Resolves once something answers a Redis PING on `port`, or rejects after `timeoutMs`. */
async function waitForPong(port: number, timeoutMs: number, exited: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = exited();
    if (why) throw new Error(`redis-server stopped before it answered: ${why}`);
    const pong = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.setTimeout(500);
      socket.once('connect', () => socket.write('PING\r\n'));
      socket.once('data', (data) => {
        // With a password, an unauthenticated PING is refused: that is an answer too.
        resolve(/^(\+PONG|-NOAUTH)/.test(data.toString()));
        socket.destroy();
      });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        resolve(false);
        socket.destroy();
      });
    });
    if (pong) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((wait) => setTimeout(wait, 50));
  }
}

/** Starts a Redis on `port` (a free one by default) and resolves once it answers. */
export async function startRedisServer(options: { port?: number; timeoutMs?: number; password?: string } = {}): Promise<RedisServer> {
  if (!hasRedisServer()) throw new Error(NO_REDIS_MESSAGE);
  const port = options.port ?? (await freePort());
  const child: ChildProcess = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'yes',
      '--loglevel',
      'warning',
      ...(options.password ? ['--requirepass', options.password] : []),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2_000);
  });
  let exit: string | undefined;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = `exit ${code ?? signal}${stderr ? `: ${stderr.trim()}` : ''}`;
      resolve(exit);
    });
  });
  try {
    await waitForPong(port, options.timeoutMs ?? 10_000, () => exit);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    url: new URL(`redis://127.0.0.1:${port}`),
    port,
    pid: child.pid ?? 0,
    exited,
    async stop() {
      if (exit) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
