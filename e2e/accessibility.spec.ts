import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { openPurl } from './helpers';

async function violations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).analyze();
  return result.violations.map((violation) => `${violation.id}: ${violation.help} (${violation.nodes.map((node) => node.target.join(' ')).join(', ')})`);
}

test.describe('accessibility (axe-core)', () => {
  test('the memories view, a conversation and the open monitor have no violations', async ({ page }) => {
    await openPurl(page);
    await expect(page.locator('.conversation-row').first()).toBeVisible();
    expect(await violations(page)).toEqual([]);
    await page.locator('.conversation-row').first().click();
    await expect(page.locator('.memory').first()).toBeVisible();
    await page.locator('.memory[data-author="agent"] details summary').first().click();
    expect(await violations(page)).toEqual([]);
    await page.getByLabel('Search memories').fill('tabs');
    await expect(page.locator('.search-row').first()).toBeVisible();
    expect(await violations(page)).toEqual([]);
    await page.getByLabel('Search memories').fill('');
    await page.locator('details.monitor summary').click();
    await expect(page.locator('.monitor-rows')).toBeVisible();
    expect(await violations(page)).toEqual([]);
  });

  test('the chat view has no violations, with messages on screen', async ({ page }) => {
    await openPurl(page);
    await page.getByRole('link', { name: 'Chat' }).click();
    await page.getByLabel(/Message to/).fill('Is this page accessible?');
    await page.getByLabel(/Message to/).press('Enter');
    await expect(page.locator('.chat-line[data-author="agent"]').first()).toBeVisible();
    expect(await violations(page)).toEqual([]);
  });

  test('everything is reachable with the keyboard: the views, the monitor and the message box', async ({ page }) => {
    await openPurl(page);
    const reached = new Set<string>();
    for (let i = 0; i < 40; i += 1) {
      await page.keyboard.press('Tab');
      const focused = await page.evaluate(() => {
        const element = document.activeElement;
        return element ? `${element.tagName.toLowerCase()}:${(element.textContent ?? '').trim().slice(0, 30)}` : '';
      });
      reached.add(focused);
    }
    expect([...reached].some((entry) => entry.startsWith('a:Chat'))).toBe(true);
    expect([...reached].some((entry) => entry.startsWith('summary:Rate-limit monitor'))).toBe(true);
  });
});
