import { describe, expect, it } from 'vitest';
import { untrustedAnswer } from './answer-check';

const AGENT = '11111111-1111-4111-8111-111111111111';
const get = (path: string) => new Request(`http://purl.test${path}`);
const post = (path: string) => new Request(`http://purl.test${path}`, { method: 'POST', body: '{}' });
const answer = (body: string, status = 200) => new Response(body, { status, headers: { 'Content-Type': 'application/json' } });
const memories = JSON.stringify({
  success: true,
  data: { memories: [{ id: 'm1', agentId: AGENT, entityId: AGENT, roomId: 'r', createdAt: 1, content: { text: 'hi' } }] },
});
const HTML = '<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>';

describe('the door every answer passes', () => {
  it('accepts an answer of the shape Purl reads, and leaves its body for the caller to read', async () => {
    const response = answer(memories);
    expect(await untrustedAnswer(get(`/api/agents/${AGENT}/memories?tableName=messages`), response)).toBeUndefined();
    expect(await response.json()).toMatchObject({ success: true });
  });

  it('refuses an HTML page answered with 200 on each endpoint Purl reads', async () => {
    const endpoints = [
      get('/api/agents'),
      get(`/api/agents/${AGENT}/memories`),
      get('/api/messaging/sessions/s1/messages?limit=50'),
      post('/api/messaging/sessions'),
      post('/api/messaging/sessions/s1/messages'),
    ];
    for (const request of endpoints) {
      expect((await untrustedAnswer(request, answer(HTML)))?.code, `${request.method} ${request.url}`).toBe('bad-response');
    }
  });

  it('refuses JSON of the wrong shape and a body cut short', async () => {
    expect((await untrustedAnswer(get('/api/agents'), answer('{"success":true,"data":{"items":"none"}}')))?.message).toMatch(/data\.agents is not a list/);
    expect((await untrustedAnswer(get(`/api/agents/${AGENT}/memories`), answer(memories.slice(0, memories.length / 2))))?.message).toMatch(/not JSON/);
  });

  it('refuses memories of another agent than the one asked for', async () => {
    const other = '22222222-2222-4222-8222-222222222222';
    expect((await untrustedAnswer(get(`/api/agents/${other}/memories`), answer(memories)))?.message).toMatch(/another agent/);
  });

  it('leaves error answers and paths Purl does not read to their callers', async () => {
    expect(await untrustedAnswer(get('/api/agents'), answer(HTML, 502))).toBeUndefined();
    expect(await untrustedAnswer(get('/api/server/ping'), answer(HTML))).toBeUndefined();
    expect(await untrustedAnswer(get('/api/agents'), new Response(null, { status: 304 }))).toBeUndefined();
  });
});
