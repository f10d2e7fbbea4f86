import { expect, test } from '@playwright/test';
import { conversationStartingWith, openPurl, sendToAgent } from './helpers';

const payloads = [
  '<img src=x onerror=alert(1)>',
  '<script>alert(2)</script>',
  '<svg onload=alert(3)>',
  '"><iframe src="javascript:alert(4)"></iframe>',
  '[click](javascript:alert(5)) <a href="javascript:alert(6)">link</a>',
];

test('memories and chat lines whose text is HTML render as text and run nothing', async ({ page }) => {
  const dialogs: string[] = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  const stamp = Date.now();
  for (const payload of payloads) await sendToAgent(`${payload} ${stamp}`);
  await openPurl(page);
  for (const payload of payloads) {
    await expect(conversationStartingWith(page, `${payload} ${stamp}`)).toHaveCount(1);
  }
  expect(await page.locator('.conversation-preview *').count()).toBe(0);
  for (const payload of payloads) {
    await conversationStartingWith(page, `${payload} ${stamp}`).click();
    await expect(
      page
        .locator('.memory-text')
        .filter({ hasText: `${payload} ${stamp}` })
        .first(),
    ).toBeVisible();
    // Nothing the agent or a user wrote became markup.
    expect(await page.locator('.memory-text *').count()).toBe(0);
  }
  await page.getByLabel('Search memories').fill(String(stamp));
  await expect(page.locator('.search-row')).toHaveCount(payloads.length * 2);
  expect(await page.locator('.search-row :is(img, script, iframe, svg, a[href^="javascript"])').count()).toBe(0);
  await page.getByRole('link', { name: 'Chat' }).click();
  await page.getByLabel(/Message to/).fill(`${payloads[0]} from the chat ${stamp}`);
  await page.getByLabel(/Message to/).press('Enter');
  // The user's own line (the agent's reply quotes the same text, and may already be there).
  await expect(page.locator('.chat-line[data-author="user"] .memory-text').filter({ hasText: `${payloads[0]} from the chat ${stamp}` })).toHaveCount(1);
  await expect(page.locator('.chat-line[data-author="agent"] .memory-text').filter({ hasText: `from the chat ${stamp}` })).toHaveCount(1);
  expect(await page.locator('.chat-line .memory-text *').count()).toBe(0);
  expect(dialogs).toEqual([]);
});
