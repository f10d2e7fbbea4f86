import { expect, test } from '@playwright/test';
import { waitForReply } from './helpers';
import { stackInfo } from './stack';

test.describe('the gateway in front of the real ElizaOS', () => {
  test('no gateway answer carries a secrets field, though ElizaOS itself sends one', async ({ request }) => {
    const { baseUrl, elizaUrl, agentId } = stackInfo();
    const direct = await (await fetch(`${elizaUrl}/api/agents/${agentId}`)).text();
    expect(direct, 'ElizaOS exposes settings.secrets (the reason the gateway strips it)').toContain('"secrets"');
    for (const path of ['/api/agents', `/api/agents/${agentId}`, `/api/agents/${agentId}/memories?tableName=messages&includeEmbedding=false`]) {
      const response = await request.get(`${baseUrl}${path}`);
      expect(response.status(), path).toBe(200);
      expect(await response.text(), path).not.toContain('"secrets"');
    }
  });

  test('passes the rate-limit headers, and gives each client its own bucket apart from the agent’s own calls', async ({ request }) => {
    const { baseUrl, agentId } = stackInfo();
    const remaining = async () => Number((await request.get(`${baseUrl}/api/agents`)).headers()['ratelimit-remaining']);
    const before = await remaining();
    expect(before).toBeGreaterThan(0);
    // One message through the gateway: the agent answers by calling its own server
    // over HTTP several times. None of those calls may come out of this client's budget.
    const session = await request.post(`${baseUrl}/api/messaging/sessions`, { data: { agentId, userId: crypto.randomUUID() } });
    expect(session.status()).toBe(201);
    const { sessionId } = await session.json();
    const posted = await request.post(`${baseUrl}/api/messaging/sessions/${sessionId}/messages`, { data: { content: 'Count my requests, please.' } });
    expect(posted.status()).toBe(201);
    expect(await waitForReply(sessionId)).toContain('Count my requests, please.');
    const after = await remaining();
    // The two posts and the second read: three requests of this client's own.
    expect(before - after).toBe(3);
  });

  test('an unknown API path is ElizaOS’s JSON 404, passed through', async ({ request }) => {
    const response = await request.get(`${stackInfo().baseUrl}/api/no-such-thing`);
    expect(response.status()).toBe(404);
    expect((await response.json()).success).toBe(false);
  });

  test('serves a real robots.txt and the config the environment set', async ({ request }) => {
    const { baseUrl } = stackInfo();
    expect(await (await request.get(`${baseUrl}/robots.txt`)).text()).toMatch(/^User-agent: \*/m);
    expect(await (await request.get(`${baseUrl}/config.json`)).json()).toMatchObject({ memoriesPollMs: 1000 });
  });
});
