import { expect, test } from '@playwright/test';
import { openPurl, sendToAgent } from './helpers';
import { stackInfo } from './stack';

interface ServerMemory {
  id: string;
  content: { text?: string };
}

/** The memory holding exactly `text`, asked of ElizaOS directly. */
async function findOnServer(text: string): Promise<ServerMemory | undefined> {
  const { elizaUrl, agentId } = stackInfo();
  const response = await fetch(`${elizaUrl}/api/agents/${agentId}/memories?tableName=messages&includeEmbedding=false`);
  const { data } = (await response.json()) as { data: { memories: ServerMemory[] } };
  return data.memories.find((memory) => memory.content.text === text);
}

test('a memory edited on the server shows its new text, in place of the old', async ({ page }) => {
  const token = `edit${Date.now()}`;
  const before = `Before the edit ${token}`;
  const after = `After the edit ${token}`;
  await sendToAgent(before);
  await openPurl(page);
  await page.getByLabel('Search memories').fill(token);
  const found = page.locator('.search-row .memory-text');
  await expect(found.filter({ hasText: new RegExp(`^${before}$`) })).toHaveCount(1);

  // Edited at ElizaOS itself (an admin route the gateway does not serve): same id, new text.
  const memory = await findOnServer(before);
  expect(memory).toBeDefined();
  const { elizaUrl, agentId } = stackInfo();
  const patched = await fetch(`${elizaUrl}/api/memory/${agentId}/memories/${memory!.id}`, {
    method: 'PATCH',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ content: { ...memory!.content, text: after } }),
  });
  expect(patched.status).toBe(200);
  expect((await findOnServer(after))?.id).toBe(memory!.id);

  await expect(found.filter({ hasText: new RegExp(`^${after}$`) })).toHaveCount(1, { timeout: 30_000 });
  await expect(found.filter({ hasText: new RegExp(`^${before}$`) })).toHaveCount(0);
});
