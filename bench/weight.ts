/**
 * The weight of what a browser downloads: gzipped JavaScript of the UI and of the
 * service worker, and the precache total. Run after a build: `npm run bench:weight`.
 * Budgets (issue 4): UI ≤ 25 KB gzipped, worker ≤ 30 KB gzipped.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export const BUDGET = { uiKb: 25, workerKb: 30 } as const;

export interface Weight {
  uiJsGzipBytes: number;
  workerGzipBytes: number;
  cssGzipBytes: number;
  /** Everything the worker precaches, as stored (not compressed). */
  precacheBytes: number;
  precacheEntries: number;
}

const gzipSize = (file: string) => gzipSync(fs.readFileSync(file), { level: 9 }).length;

export function measureWeight(distDir: string): Weight {
  const assets = path.join(distDir, 'assets');
  const files = fs.readdirSync(assets);
  const sum = (ext: string) => files.filter((file) => file.endsWith(ext)).reduce((total, file) => total + gzipSize(path.join(assets, file)), 0);
  const worker = fs.readFileSync(path.join(distDir, 'sw.js'), 'utf8');
  // The precache manifest is inlined in sw.js as {"revision":…,"url":"…"} entries.
  const urls = [...worker.matchAll(/"url":"([^"]+)"/g)].map((match) => match[1]!);
  const precacheBytes = urls.reduce((total, url) => {
    const file = path.join(distDir, url.replace(/^\//, ''));
    return total + (fs.existsSync(file) ? fs.statSync(file).size : 0);
  }, 0);
  return {
    uiJsGzipBytes: sum('.js'),
    workerGzipBytes: gzipSize(path.join(distDir, 'sw.js')),
    cssGzipBytes: sum('.css'),
    precacheBytes,
    precacheEntries: urls.length,
  };
}

const kb = (bytes: number) => (bytes / 1024).toFixed(1);

function main(): void {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const weight = measureWeight(path.join(root, 'dist'));
  console.log('| what | size | budget |');
  console.log('|---|---|---|');
  console.log(`| UI JavaScript, gzipped | ${kb(weight.uiJsGzipBytes)} KB | ${BUDGET.uiKb} KB |`);
  console.log(`| service worker, gzipped | ${kb(weight.workerGzipBytes)} KB | ${BUDGET.workerKb} KB |`);
  console.log(`| CSS, gzipped | ${kb(weight.cssGzipBytes)} KB | |`);
  console.log(`| precache (${weight.precacheEntries} entries, uncompressed) | ${kb(weight.precacheBytes)} KB | |`);
  const over = weight.uiJsGzipBytes > BUDGET.uiKb * 1024 || weight.workerGzipBytes > BUDGET.workerKb * 1024;
  if (over) {
    console.error('Over budget.');
    process.exitCode = 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) main();
