import path from 'node:path';
import { expect, test } from '@playwright/test';
import { BUDGET, measureWeight } from '../bench/weight';
import { root } from './stack';

test('the UI and the worker stay within their weight budgets', () => {
  const weight = measureWeight(path.join(root, 'dist'));
  expect(weight.uiJsGzipBytes).toBeGreaterThan(1024);
  expect(weight.uiJsGzipBytes).toBeLessThanOrEqual(BUDGET.uiKb * 1024);
  expect(weight.workerGzipBytes).toBeLessThanOrEqual(BUDGET.workerKb * 1024);
  expect(weight.precacheEntries).toBeGreaterThanOrEqual(3);
});
