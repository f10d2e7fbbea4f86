import { expect, test, type Page } from '@playwright/test';
import { startFaultProxy } from './fault-proxy';
import { openPurl } from './helpers';
import { startExtraGateway, stackInfo } from './stack';

const row = (page: Page, label: string) =>
  page
    .locator('.monitor-row')
    .filter({ has: page.locator('dt', { hasText: label }) })
    .locator('dd');

test('the monitor shows live figures, reflects an injected 429 and an open breaker, and switches high-load mode', async ({ page }) => {
  const proxy = await startFaultProxy(stackInfo().elizaUrl);
  const gateway = await startExtraGateway({ CIRCUIT_BREAKER_THRESHOLD: '2', CIRCUIT_BREAKER_TIMEOUT: '60000' }, proxy.url);
  try {
    await openPurl(page, gateway.url);
    await expect(page.locator('.conversation-row').first()).toBeVisible();
    const monitor = page.locator('details.monitor');
    await expect(monitor).not.toHaveAttribute('open', '');
    await monitor.locator('summary').click();
    await expect(row(page, 'Circuit breaker')).toHaveText(/Closed/);
    await expect(row(page, 'Server budget')).toHaveText(/of 1000 left/);

    proxy.inject({ kind: 'status', status: 429, headers: { 'Retry-After': '2' } }, 1);
    await expect(row(page, '429')).toHaveText('1', { timeout: 15_000 });
    await expect(page.locator('.monitor-chart [role="img"]')).toHaveAttribute('aria-label', /429 answers: 1/);

    proxy.inject({ kind: 'status', status: 503 });
    await expect(row(page, 'Circuit breaker')).toHaveText(/Open/, { timeout: 20_000 });
    await expect(page.getByText("The agent's server isn't answering", { exact: false })).toBeVisible();

    const toggle = page.getByRole('switch', { name: /High-load mode/ });
    await toggle.check();
    await expect(page.locator('.badge', { hasText: 'High-load mode' })).toBeVisible();
    await toggle.uncheck();
    await expect(page.locator('.badge', { hasText: 'High-load mode' })).toBeHidden();
  } finally {
    await gateway.close();
    await proxy.close();
  }
});
