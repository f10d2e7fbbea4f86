/**
 * Runs one of Purl's programs as a user does (`server/start.ts` for `npm start`,
 * `server/cluster/main.ts` for `npm run cluster`), with `env` and nothing else of ours
 * but PATH and HOME, and waits until it says it is running.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { root } from './stack';

export interface Launched {
  child: ChildProcess;
  /** Where it says Purl is running. */
  url: string;
  /** All it printed so far, both streams. */
  output: () => string;
  /** Stops it with `signal` (SIGINT, as Ctrl-C, by default) and resolves once it exited. */
  stop: (signal?: NodeJS.Signals) => Promise<void>;
}

const RUNNING = /Purl is running at (http:\/\/\S+?)\/? /;

/** How long a program may take to say it runs before it is killed and the launch fails, ms. */
const LAUNCH_TIMEOUT_MS = 60_000;

/**
 * Resolves once the program printed that it runs and `ready` (if given) holds of its
 * output; rejects if it exits first, or is killed after LAUNCH_TIMEOUT_MS (so a hung
 * start leaves no process behind).
 */
export function launchPurl(script: string, env: Record<string, string>, ready: (output: string) => boolean = () => true): Promise<Launched> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: root,
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), LAUNCH_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const running = RUNNING.exec(output);
      if (!running || !ready(output)) return;
      clearTimeout(timer);
      resolve({
        child,
        url: running[1]!,
        output: () => output,
        stop: (signal = 'SIGINT') => {
          child.kill(signal);
          return exited;
        },
      });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited early (${code ?? signal}):\n${output}`));
    });
  });
}
