import { describe, expect, it } from 'vitest';
import { PurlError } from '../src/shared/errors';
import { Gate } from './gate';
import { createGuard } from './guard';

function harness(answer: () => Promise<Response>, online = { is: true }, check?: (request: Request, response: Response) => Promise<PurlError | undefined>) {
  const clock = { now: 1_000_000 };
  const gate = new Gate({ now: () => clock.now, random: () => 1 }, { threshold: 2, timeoutMs: 10_000 });
  const sent: string[] = [];
  const answers: number[] = [];
  const badAnswers: number[] = [];
  const guard = createGuard({
    ...(check ? { check } : {}),
    onBadAnswer: () => badAnswers.push(clock.now),
    fetch: async (request) => {
      sent.push(request.url);
      return answer();
    },
    now: () => clock.now,
    gate,
    onAnswer: (status) => answers.push(status),
    isOnline: () => online.is,
  });
  const send = () => guard(new Request('http://purl.test/api/agents'), new AbortController().signal);
  return { clock, breaker: gate.breaker, sent, answers, badAnswers, send, retryAt: () => gate.retryAt };
}

const code = async (promise: Promise<unknown>) => {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return error instanceof PurlError ? error.code : String(error);
  }
};

describe('the guard in front of the network', () => {
  it('counts an answer its check refuses as a failure: the breaker opens and the request rejects with the reason', async () => {
    const refuse = async () => new PurlError('bad-response', 'the body is not JSON');
    const h = harness(async () => new Response('<html></html>', { status: 200 }), { is: true }, refuse);
    expect(await code(h.send())).toBe('bad-response');
    expect(h.breaker.view(h.clock.now)).toEqual({ state: 'closed', failures: 1 });
    expect(await code(h.send())).toBe('bad-response');
    expect(h.breaker.view(h.clock.now).state).toBe('open');
    expect(h.badAnswers).toHaveLength(2);
    expect(h.answers).toEqual([]);
    expect(await code(h.send())).toBe('breaker-open');
    expect(h.sent).toHaveLength(2);
  });

  it('lets an answer its check accepts through as a success', async () => {
    const h = harness(
      async () => new Response('{}', { status: 200 }),
      { is: true },
      async () => undefined,
    );
    expect((await h.send()).status).toBe(200);
    expect(h.breaker.view(h.clock.now)).toEqual({ state: 'closed', failures: 0 });
    expect(h.answers).toEqual([200]);
  });

  it('after a 429 with Retry-After sends nothing until it has passed', async () => {
    const h = harness(async () => new Response('', { status: 429, headers: { 'Retry-After': '30' } }));
    expect((await h.send()).status).toBe(429);
    expect(h.retryAt()).toBe(1_000_000 + 30_000);
    h.clock.now += 29_999;
    expect(await code(h.send())).toBe('rate-limited');
    expect(h.sent).toHaveLength(1);
    h.clock.now += 1;
    await h.send();
    expect(h.sent).toHaveLength(2);
  });

  it('after a 429 without Retry-After holds off for a growing backoff', async () => {
    const h = harness(async () => new Response('', { status: 429 }));
    await h.send();
    const first = h.retryAt() - h.clock.now;
    h.clock.now = h.retryAt();
    await h.send();
    const second = h.retryAt() - h.clock.now;
    expect(first).toBe(1_000);
    expect(second).toBe(2_000);
  });

  it('counts 5xx, 429 and network errors against the breaker and refuses while it is open', async () => {
    const h = harness(async () => new Response('', { status: 503 }));
    await h.send();
    await h.send();
    expect(h.breaker.view(h.clock.now).state).toBe('open');
    expect(await code(h.send())).toBe('breaker-open');
    expect(h.sent).toHaveLength(2);
  });

  it('turns a network failure into a tried-and-failed error', async () => {
    const h = harness(async () => Promise.reject(new TypeError('Failed to fetch')));
    expect(await code(h.send())).toBe('network-error');
    expect(h.breaker.toJSON()).toEqual({ state: 'closed', failures: 1 });
  });

  it('does not hold failures while the device is offline against the server', async () => {
    const online = { is: false };
    const h = harness(async () => Promise.reject(new TypeError('Failed to fetch')), online);
    for (let i = 0; i < 3; i += 1) expect(await code(h.send())).toBe('network-error');
    expect(h.breaker.toJSON()).toEqual({ state: 'closed', failures: 0 });
    online.is = true;
    expect(await code(h.send())).toBe('network-error');
    expect(h.breaker.toJSON()).toEqual({ state: 'closed', failures: 1 });
  });

  it('a 404 is the server answering: it closes the count of failures', async () => {
    let status = 503;
    const h = harness(async () => new Response('', { status }));
    await h.send();
    status = 404;
    await h.send();
    expect(h.breaker.toJSON()).toEqual({ state: 'closed', failures: 0 });
    expect(h.answers).toEqual([503, 404]);
  });
});

describe('the guard behind a gateway that shares one upstream budget', () => {
  const budgetHeaders = {
    RateLimit: '"purl-api"; r=480; t=40, "share"; r=0; t=600, "eliza"; r=40; t=600',
    'RateLimit-Policy': '"purl-api"; q=500; w=60, "share"; q=250; w=900, "eliza"; q=1000; w=900',
  };

  function budgetHarness(answer: (request: Request) => Response) {
    const clock = { now: 1_000_000 };
    const gate = new Gate({ now: () => clock.now, random: () => 1 }, { threshold: 2, timeoutMs: 10_000 });
    const sent: string[] = [];
    const limits: { url: string; remaining: number | undefined }[] = [];
    const guard = createGuard({
      fetch: async (request) => {
        sent.push(`${request.method} ${new URL(request.url).pathname}`);
        return answer(request);
      },
      now: () => clock.now,
      gate,
      onAnswer: (_status, rateLimit, { request }) => limits.push({ url: new URL(request.url).pathname, remaining: rateLimit.remaining }),
    });
    const send = (path: string, method = 'GET') => guard(new Request(`http://purl.test${path}`, { method }), new AbortController().signal);
    return { clock, gate, sent, limits, send };
  }

  it('lets the share bind the chat, and leaves the upstream’s members out of what binds an answer the edge served', async () => {
    const h = budgetHarness((request) =>
      request.url.includes('/memories')
        ? new Response('{}', { headers: { ...budgetHeaders, 'X-Purl-Edge': 'stale-budget' } })
        : new Response('{}', { headers: budgetHeaders }),
    );
    await h.send('/api/messaging/sessions/s/messages?limit=50');
    await h.send('/api/agents/a/memories?tableName=messages&includeEmbedding=false');
    expect(h.limits).toEqual([
      { url: '/api/messaging/sessions/s/messages', remaining: 0 },
      { url: '/api/agents/a/memories', remaining: 480 },
    ]);
  });

  it('after the gateway’s 429 for a spent budget holds messages and the chat until its Retry-After, and still lets reads of the edge go', async () => {
    const h = budgetHarness(() => new Response('{}', { status: 429, headers: { ...budgetHeaders, 'Retry-After': '20', 'X-Purl-Budget': 'empty' } }));
    expect((await h.send('/api/messaging/sessions/s/messages?limit=50')).status).toBe(429);
    expect(await code(h.send('/api/messaging/sessions/s/messages', 'POST'))).toBe('rate-limited');
    expect(await code(h.send('/api/agents'))).toBe('resolved');
    h.clock.now += 20_000;
    expect(await code(h.send('/api/messaging/sessions/s/messages', 'POST'))).toBe('resolved');
    expect(h.sent).toEqual(['GET /api/messaging/sessions/s/messages', 'GET /api/agents', 'POST /api/messaging/sessions/s/messages']);
    expect(h.gate.view()).toEqual({ state: 'closed', failures: 0 });
  });
});
