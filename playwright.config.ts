import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, findChromium } from './e2e/browser';

export default defineConfig({
  testDir: 'e2e',
  // One ElizaOS and one gateway serve the whole run (started in global setup); the
  // machine has two cores, so tests run one at a time.
  workers: 1,
  fullyParallel: false,
  timeout: 60_000,
  expect: { timeout: 15_000 },
  retries: 0,
  // A test.only left in by mistake fails the CI run instead of quietly skipping the rest.
  forbidOnly: Boolean(process.env['CI']),
  globalSetup: './e2e/global-setup.ts',
  reporter: [['list'], ['json', { outputFile: 'test-report/e2e.json' }]],
  use: {
    browserName: 'chromium',
    serviceWorkers: 'allow',
    launchOptions: { executablePath: findChromium(), args: CHROMIUM_ARGS },
    trace: 'retain-on-failure',
  },
});
