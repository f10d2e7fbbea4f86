/**
 * Builds the app when dist/ is missing or older than its sources, so `npm start`
 * works on a fresh clone and after a `git pull` without a separate build step.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const SOURCES = ['src', 'sw', 'public', 'index.html', 'vite.config.ts', 'package.json'];

function newestMtime(entry: string): number {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(entry);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const child of fs.readdirSync(entry)) newest = Math.max(newest, newestMtime(path.join(entry, child)));
  return newest;
}

/** True when dist/ is missing or any source is newer than the built page. */
export function needsBuild(root: string): boolean {
  const built = newestMtime(path.join(root, 'dist', 'index.html'));
  if (built === 0 || !fs.existsSync(path.join(root, 'dist', 'sw.js'))) return true;
  return SOURCES.some((source) => newestMtime(path.join(root, source)) > built);
}

/** Runs `vite build` in `root`, showing its output; rejects with a sentence on failure. */
export function build(root: string): Promise<void> {
  const vite = path.join(root, 'node_modules', 'vite', 'bin', 'vite.js');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [vite, 'build', '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' });
    child.on('error', (error) => reject(new Error(`Could not run the build: ${error.message}`)));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`The build failed (exit code ${code}); see the messages above.`))));
  });
}
