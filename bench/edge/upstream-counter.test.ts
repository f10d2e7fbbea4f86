import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyUpstream, startUpstreamCounter, summarizeUpstream, type UpstreamEntry } from './upstream-counter';

describe('classifying what reached ElizaOS', () => {
  it('tells memories reads, agent reads, chat polls, posted messages and sessions apart', () => {
    const agent = '40608b6b-63b6-0e2c-b819-9d9850d060ec';
    expect(classifyUpstream('GET', `/api/agents/${agent}/memories?tableName=messages&includeEmbedding=false`)).toBe('memories');
    expect(classifyUpstream('GET', `/api/memory/${agent}/memories`)).toBe('memories');
    expect(classifyUpstream('GET', `/api/memory/${agent}/rooms/r1/memories?limit=20`)).toBe('memories');
    expect(classifyUpstream('GET', '/api/agents')).toBe('agents');
    expect(classifyUpstream('GET', `/api/agents/${agent}`)).toBe('agents');
    expect(classifyUpstream('GET', '/api/messaging/sessions/s1/messages?limit=50&after=1')).toBe('chat-poll');
    expect(classifyUpstream('POST', '/api/messaging/sessions/s1/messages')).toBe('message-post');
    expect(classifyUpstream('POST', '/api/messaging/sessions')).toBe('session');
    expect(classifyUpstream('POST', '/api/messaging/sessions/s1/renew')).toBe('session');
  });

  it('keeps what does not spend the budget apart from what does', () => {
    expect(classifyUpstream('GET', '/healthz')).toBe('health');
    expect(classifyUpstream('GET', '/socket.io/?EIO=4&transport=websocket')).toBe('socket');
    expect(classifyUpstream('GET', '/api/server/ping')).toBe('other-api');
    expect(classifyUpstream('DELETE', '/api/agents/a1')).toBe('other-api');
    expect(classifyUpstream('GET', '/favicon.ico')).toBe('other');
  });
});

describe('summing a window', () => {
  const entry = (at: number, kind: UpstreamEntry['kind'], status = 200, bytes = 10): UpstreamEntry => ({ at, kind, status, bytes });

  it('counts only the requests that arrived within [from, to), and only /api ones as budget', () => {
    const entries = [entry(999, 'memories'), entry(1_000, 'memories'), entry(1_500, 'chat-poll', 429, 3), entry(1_600, 'health'), entry(2_000, 'agents')];
    const summary = summarizeUpstream(entries, 1_000, 2_000);
    expect(summary.api).toBe(2);
    expect(summary.byKind.memories).toBe(1);
    expect(summary.byKind['chat-poll']).toBe(1);
    expect(summary.byKind.health).toBe(1);
    expect(summary.byKind.agents).toBe(0);
    expect(summary.rateLimited).toBe(1);
    expect(summary.apiBytes).toBe(13);
    expect(summary.answerP50Ms).toBeUndefined();
  });

  it('times the answered /api requests: median and 95th percentile', () => {
    const timed = Array.from({ length: 20 }, (_, i): UpstreamEntry => ({ ...entry(1_000 + i, 'chat-poll'), ms: (i + 1) * 10 }));
    // Unanswered, and not budget: neither is timed.
    const summary = summarizeUpstream([...timed, entry(1_100, 'session'), { ...entry(1_200, 'health'), ms: 5_000 }], 1_000, 2_000);
    expect([summary.answerP50Ms, summary.answerP95Ms]).toEqual([100, 190]);
  });
});

describe('the counting proxy', () => {
  let server: http.Server;
  let target: string;

  beforeAll(async () => {
    // A stand-in for ElizaOS: says who connected, and refuses one path with a 429.
    server = http.createServer((req, res) => {
      if (req.url === '/api/agents') {
        res.writeHead(429, { 'Retry-After': '9' }).end('{"success":false}');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end(req.socket.remoteAddress);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    target = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('passes answers through unchanged, from an address of its own, and counts each with its status and size', async () => {
    const counter = await startUpstreamCounter({ target, localAddress: '127.0.254.9' });
    try {
      const memories = await fetch(`${counter.url}/api/agents/a1/memories?tableName=messages`);
      expect(await memories.text()).toBe('127.0.254.9');
      const refused = await fetch(`${counter.url}/api/agents`);
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('9');
      await refused.text();
      expect(counter.entries.every((entry) => entry.ms !== undefined && entry.ms >= 0)).toBe(true);
      expect(counter.entries.map(({ kind, status, bytes }) => ({ kind, status, bytes }))).toEqual([
        { kind: 'memories', status: 200, bytes: '127.0.254.9'.length },
        { kind: 'agents', status: 429, bytes: '{"success":false}'.length },
      ]);
    } finally {
      await counter.close();
    }
  });
});
