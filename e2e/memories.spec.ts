import { expect, test } from '@playwright/test';
import { LIST_PAGE } from '../src/components/memories/paging';
import { conversationRows, openPurl, showConversationStartingWith } from './helpers';
import { stackInfo } from './stack';

/** The server's own answer: its memories whose text or thought contains `word`, any case. */
async function serverMatches(word: string): Promise<{ all: number; user: number }> {
  const { elizaUrl, agentId } = stackInfo();
  const response = await fetch(`${elizaUrl}/api/agents/${agentId}/memories?tableName=messages&includeEmbedding=false`);
  const { data } = (await response.json()) as { data: { memories: { entityId: string; content: { text?: string; thought?: string } }[] } };
  const hits = data.memories.filter((m) => `${m.content.text ?? ''} ${m.content.thought ?? ''}`.toLowerCase().includes(word));
  return { all: hits.length, user: hits.filter((m) => m.entityId !== agentId).length };
}

test.describe('the memories browser on the seeded data', () => {
  test('groups memories into conversations with their counts, and opens one as a transcript', async ({ page }) => {
    await openPurl(page);
    await expect(await showConversationStartingWith(page, 'Hi Purl, what happens when I open ten tabs?')).toContainText('4 messages');
    const silent = await showConversationStartingWith(page, 'Why does the agent go silent after a while?');
    await expect(silent).toContainText('6 messages');
    await silent.click();
    await expect(page).toHaveURL(/#\/memories\/.+/);
    // The transcript renders from IndexedDB after the route changes: wait for all six lines.
    await expect(page.locator('.memory .memory-text')).toHaveCount(6);
    const texts = await page.locator('.memory .memory-text').allTextContents();
    expect(texts.filter((_, i) => i % 2 === 0)).toEqual([
      'Why does the agent go silent after a while?',
      'How long should I wait after a 429?',
      'Can I see how many requests I have left?',
    ]);
    for (const [i, text] of texts.entries()) if (i % 2 === 1) expect(text).toContain(texts[i - 1]!);
    // An agent memory's thought and actions are there, folded.
    const details = page.locator('.memory[data-author="agent"] details').first();
    await expect(details).not.toHaveAttribute('open', '');
    await details.locator('summary').click();
    await expect(details).toContainText('REPLY');
    await page.getByRole('button', { name: /Back to conversations/ }).click();
    await expect(conversationRows(page).first()).toBeVisible();
  });

  test('search finds the right memories, filters by author, and says when nothing matches', async ({ page }) => {
    await openPurl(page);
    await expect(conversationRows(page).first()).toBeVisible();
    const expected = await serverMatches('offline');
    expect(expected.user).toBeGreaterThanOrEqual(1);
    const search = page.getByLabel('Search memories');
    await search.fill('OFFLINE');
    // The whole count in words, a page of rows: other tests add such memories, and more than a page (58) was seen.
    await expect(page.locator('.search-count')).toContainText(`${expected.all} saved memories mention`);
    await expect(page.locator('.search-row')).toHaveCount(Math.min(expected.all, LIST_PAGE));
    await page.getByLabel('Written by').selectOption({ label: 'User' });
    await expect(page.locator('.search-count')).toContainText(`${expected.user} saved memor`);
    await expect(page.locator('.search-row')).toHaveCount(Math.min(expected.user, LIST_PAGE));
    await expect(page.locator('.search-row .memory-text').filter({ hasText: /^Does Purl work when I am offline\?$/ })).toHaveCount(1);
    await search.fill('no such words anywhere');
    await expect(page.locator('.search-count')).toHaveText('No saved memory by User mentions “no such words anywhere”.');
  });
});
