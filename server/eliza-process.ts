/**
 * Runs the embedded ElizaOS (server/eliza/main.ts) as a child process with a clean
 * environment: ElizaOS copies its whole environment into every agent's settings, so
 * nothing of the user's shell reaches it but the model provider's variables, allowed by
 * name (`modelEnvNames`), which its model plugin reads.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { modelEnvNames } from './eliza/model-provider';

export interface EmbeddedEliza {
  url: URL;
  /** The first agent's id. */
  agentId: string;
  /** Every agent's id, in the order of the character files. */
  agentIds: string[];
  /** Shared with the gateway so the server trusts its X-Forwarded-For. */
  gatewaySecret: string;
  pid: number;
  stop(): Promise<void>;
}

export interface EmbeddedElizaOptions {
  root: string;
  dataDir: string;
  /** Port for ElizaOS; 0 picks a free one. */
  port?: number;
  /** Progress lines for the user. */
  onProgress?: (line: string) => void;
  /** How long to wait for the ready line, ms. */
  readyTimeoutMs?: number;
  /** ElizaOS as users run it themselves: no Purl middleware, so the gateway is one client to it. */
  stock?: boolean;
  /** Character files (absolute paths, already checked), one agent each; none runs the built-in Purl. */
  characterFiles?: readonly string[];
  /** Where the model provider's variables are taken from (only those, by name); default `process.env`. */
  modelEnv?: NodeJS.ProcessEnv;
  /** POSTGRES_URL: the database on PostgreSQL instead of PGlite in `dataDir`. */
  postgresUrl?: string;
  /** ELIZA_LOG_LEVEL, checked by the settings table (server/settings/); default `warn`. */
  logLevel?: string;
}

const READY = /^purl-eliza ready (\S+) agent=(\S+)$/;

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Only what Node and ElizaOS need to run, the character files, and the model provider's
 * variables by name; nothing else from the user's environment.
 */
export function cleanEnvironment(options: {
  port: number;
  dataDir: string;
  secret: string;
  stock: boolean;
  characterFiles: readonly string[] | undefined;
  modelEnv: NodeJS.ProcessEnv;
  postgresUrl?: string | undefined;
  logLevel?: string | undefined;
}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: process.env['HOME'] ?? options.dataDir,
    NODE_ENV: 'production',
    ELIZA_PORT: String(options.port),
    ELIZA_HOST: '127.0.0.1',
    PURL_DATA_DIR: options.dataDir,
    PURL_GATEWAY_SECRET: options.secret,
    LOG_LEVEL: options.logLevel ?? 'warn',
  };
  if (options.stock) env['PURL_ELIZA_STOCK'] = 'true';
  // Read by the server only (server/eliza/config.ts): no agent's settings get it.
  if (options.postgresUrl) env['POSTGRES_URL'] = options.postgresUrl;
  if (options.characterFiles !== undefined && options.characterFiles.length > 0) env['ELIZA_CHARACTER'] = options.characterFiles.join(',');
  for (const name of modelEnvNames()) {
    const value = options.modelEnv[name];
    if (value !== undefined && value !== '') env[name] = value;
  }
  return env;
}

/** Stops a child process: SIGTERM, SIGKILL after `graceMs`; resolves once it has exited. */
export function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export async function startEmbeddedEliza(options: EmbeddedElizaOptions): Promise<EmbeddedEliza> {
  const port = options.port || (await freePort());
  const secret = randomBytes(24).toString('base64url');
  fs.mkdirSync(options.dataDir, { recursive: true });
  const logPath = path.join(options.dataDir, 'eliza.log');
  const log = fs.createWriteStream(logPath, { flags: 'a' });
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(options.root, 'server', 'eliza', 'main.ts')], {
    cwd: options.root,
    env: cleanEnvironment({
      port,
      dataDir: options.dataDir,
      secret,
      stock: options.stock ?? false,
      characterFiles: options.characterFiles,
      modelEnv: options.modelEnv ?? process.env,
      postgresUrl: options.postgresUrl,
      logLevel: options.logLevel,
    }),
    // The IPC channel is how the child learns that this process died without stopping
    // it (a SIGKILL, a crashed terminal): it shuts down when the channel closes.
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  child.stderr!.pipe(log);
  // The child says why it failed in one `purl-eliza: …` line on stderr; keep the last.
  let failure: string | undefined;
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    errors = (errors + chunk.toString('utf8')).slice(-16_384);
    const said = errors
      .split('\n')
      .filter((line) => line.startsWith('purl-eliza: '))
      .at(-1);
    if (said !== undefined) failure = said.slice('purl-eliza: '.length).trim();
  });

  return new Promise<EmbeddedEliza>((resolve, reject) => {
    let buffered = '';
    let settled = false;
    const fail = (message: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void stopChild(child).then(() => reject(new Error(`${message} ElizaOS's log is in ${logPath}.`)));
    };
    const timer = setTimeout(() => fail('ElizaOS did not become ready in time.'), options.readyTimeoutMs ?? 120_000);
    child.on('error', (error) => fail(`ElizaOS could not be started: ${error.message}.`));
    // 'close' comes after the child's output is read to its end, so its last word is in.
    child.on('close', (code) =>
      fail(failure === undefined ? `ElizaOS stopped while starting (exit code ${code}).` : `ElizaOS stopped while starting: ${failure}`),
    );
    child.stdout!.on('data', (chunk: Buffer) => {
      log.write(chunk);
      buffered += chunk.toString('utf8');
      for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        const ready = READY.exec(line);
        if (ready && !settled) {
          settled = true;
          clearTimeout(timer);
          child.removeAllListeners('close');
          const agentIds = ready[2]!.split(',');
          resolve({
            url: new URL(ready[1]!),
            agentId: agentIds[0]!,
            agentIds,
            gatewaySecret: secret,
            pid: child.pid!,
            stop: () => stopChild(child).finally(() => log.end()),
          });
        } else if (line.startsWith('purl-eliza:')) {
          options.onProgress?.(line.slice('purl-eliza:'.length).trim());
        }
      }
    });
  });
}
