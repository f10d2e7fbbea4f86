import { randomUUID } from 'node:crypto';
import { expect, test } from '@playwright/test';
import type { UpstreamAnswer } from './fault-proxy';
import { conversationRows, openPurl } from './helpers';
import { faultStack } from './stack';

/** ElizaOS's agent list with a stopped agent put first: the real agent keeps running. */
function withStoppedAgentFirst(answer: UpstreamAnswer, id: string): UpstreamAnswer {
  const body = JSON.parse(answer.body.toString('utf8')) as { data: { agents: unknown[] } };
  body.data.agents.unshift({ id, name: 'Retired', characterName: 'Retired', bio: 'Stopped last week.', status: 'inactive' });
  return { ...answer, body: Buffer.from(JSON.stringify(body)) };
}

test('a stopped agent is marked in the picker and not chosen, though the server lists it first', async ({ page }) => {
  const stack = await faultStack();
  try {
    const retiredId = randomUUID();
    stack.proxy.inject({
      kind: 'rewrite',
      only: (request) => request.method === 'GET' && request.path.split('?')[0] === '/api/agents',
      rewrite: (answer) => withStoppedAgentFirst(answer, retiredId),
    });
    await openPurl(page, stack.url);
    const picker = page.getByLabel('Agent');
    // Running agents first in the picker, whatever the server's order.
    await expect(picker.locator('option')).toHaveText(['Purl', 'Retired (stopped)']);
    await expect(picker).not.toHaveValue(retiredId);
    await expect(picker.locator('option:checked')).toHaveText('Purl');
    // The running agent's memories are what shows, and nothing says an agent is stopped.
    await expect(conversationRows(page).first()).toBeVisible();
    await expect(page.locator('.agent-stopped')).toHaveCount(0);

    // Picked by the user, the stopped agent is shown, and the page says it will not reply.
    await picker.selectOption({ label: 'Retired (stopped)' });
    await expect(page.locator('.agent-stopped')).toHaveText(/^Retired is stopped on the server/);
  } finally {
    await stack.close();
  }
});
