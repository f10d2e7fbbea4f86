/**
 * Lighthouse 12 (mobile preset) against the real running app: the embedded ElizaOS
 * and the gateway are started here, on a fresh data folder, and stopped afterwards.
 * `npm run bench:lighthouse` prints the four category scores for the memories and the
 * chat views. Needs Chromium (see e2e/browser.ts).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as chromeLauncher from 'chrome-launcher';
import lighthouse from 'lighthouse';
import { CHROMIUM_ARGS, findChromium, NO_BROWSER_MESSAGE } from '../e2e/browser';
import { build, needsBuild } from '../server/build';
import { startBenchStack } from './sim/stack';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CATEGORIES = ['performance', 'accessibility', 'best-practices', 'seo'] as const;

export interface ViewScores {
  view: string;
  scores: Record<(typeof CATEGORIES)[number], number>;
}

async function audit(url: string, chromePath: string): Promise<Record<(typeof CATEGORIES)[number], number>> {
  const chrome = await chromeLauncher.launch({
    chromePath,
    chromeFlags: ['--headless=new', ...CHROMIUM_ARGS],
  });
  try {
    const result = await lighthouse(url, { port: chrome.port, output: 'json', logLevel: 'error', onlyCategories: [...CATEGORIES] });
    if (!result) throw new Error(`Lighthouse returned nothing for ${url}`);
    const scores = {} as Record<(typeof CATEGORIES)[number], number>;
    for (const category of CATEGORIES) scores[category] = Math.round((result.lhr.categories[category]?.score ?? 0) * 100);
    return scores;
  } finally {
    await chrome.kill();
  }
}

async function main(): Promise<void> {
  const chromePath = findChromium();
  if (!chromePath) throw new Error(NO_BROWSER_MESSAGE);
  if (needsBuild(root)) await build(root);
  const stack = await startBenchStack();
  const gateway = { url: stack.gatewayUrl };
  try {
    const results: ViewScores[] = [];
    for (const [view, hash] of [
      ['memories', '#/memories'],
      ['chat', '#/chat'],
    ] as const) {
      results.push({ view, scores: await audit(`${gateway.url}/${hash}`, chromePath) });
    }
    console.log('| view | performance | accessibility | best practices | SEO |');
    console.log('|---|---|---|---|---|');
    for (const { view, scores } of results) {
      console.log(`| ${view} | ${scores.performance} | ${scores.accessibility} | ${scores['best-practices']} | ${scores.seo} |`);
    }
  } finally {
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
