import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BUDGET_RESERVED, BUDGET_SPENT } from '../budget/budget-door';
import { createUpstreamBudget, MESSAGES_FIRST_MS, type UpstreamBudget } from '../budget/upstream-budget';
import { createUpstreamClient, type FailedRead, type UpstreamClient, type UpstreamClientOptions, type UpstreamRead } from './client';

/** The clock the budget is counted by: fixed, so what it states is exact. */
const NOW = 1_700_000_000_000;
const now = () => NOW;

const UNAVAILABLE: FailedRead = {
  kind: 'failed',
  status: 502,
  code: 'UPSTREAM_UNAVAILABLE',
  message: "The agent's server isn't reachable right now. Purl will try again shortly.",
};
const TIMEOUT: FailedRead = {
  kind: 'failed',
  status: 504,
  code: 'UPSTREAM_TIMEOUT',
  message: "The agent's server took too long to answer. Purl will try again.",
};
const BROKEN: FailedRead = {
  kind: 'failed',
  status: 502,
  code: 'UPSTREAM_BROKEN',
  message: "The agent's server stopped halfway through an answer. Purl will try again.",
};
const ABANDONED: FailedRead = {
  kind: 'failed',
  status: 502,
  code: 'UPSTREAM_ABANDONED',
  message: "The agent's server took too long to answer. Purl will try again.",
};

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A stand-in ElizaOS on 127.0.0.1: records every request that reaches it and answers as the test says. */
interface FakeUpstream {
  origin: URL;
  seen: Seen[];
  answer: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** Resolves once `count` requests have reached it. */
  reached(count?: number): Promise<void>;
  close(): Promise<void>;
}

async function startFakeUpstream(): Promise<FakeUpstream> {
  const waiters: { count: number; resolve: () => void }[] = [];
  const fake: FakeUpstream = {
    origin: new URL('http://127.0.0.1'),
    seen: [],
    answer: json(200, { success: true }),
    reached(count = 1) {
      return fake.seen.length >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve }));
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      fake.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      for (const waiter of waiters.filter((entry) => fake.seen.length >= entry.count)) waiter.resolve();
      fake.answer(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.origin = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  return fake;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}) {
  return (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
}

/** Never answers (the test's afterEach drops the connection). */
const silent = () => undefined;

async function readAll(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** The answer of a request the budget let go. */
async function answerOf(sending: ReturnType<UpstreamClient['send']>): Promise<UpstreamRead> {
  if (sending.kind !== 'sent') throw new Error(`expected the request to be sent, it was ${sending.kind}`);
  return sending.answer;
}

const GET = { cost: 'own-read', client: '10.0.0.7', method: 'GET', path: '/api/agents' } as const;

let upstream: FakeUpstream;
let budget: UpstreamBudget;
const clients: UpstreamClient[] = [];

function clientWith(options: Partial<UpstreamClientOptions['options']> = {}): UpstreamClient {
  const client = createUpstreamClient({
    options: { upstream: upstream.origin, upstreamTimeoutMs: 2_000, maxJsonBytes: 1024 * 1024, ...options },
    budget,
    now,
  });
  clients.push(client);
  return client;
}

beforeEach(async () => {
  upstream = await startFakeUpstream();
  budget = createUpstreamBudget();
});

afterEach(async () => {
  // Dropping the stand-in's connections first ends any request still waiting, so each pool closes.
  await upstream.close();
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

describe('the budget around a request', () => {
  it('never sends a request the budget keeps back, and says why at once', async () => {
    budget.note({ limit: 100, remaining: 0, resetAt: NOW + 60_000 }, NOW);
    const client = clientWith();
    const sending = client.send(GET);
    expect(sending).toMatchObject({ kind: 'refused', code: BUDGET_SPENT, headers: { 'Retry-After': '60' } });
    // A message still goes in the reserve, where a read is kept back.
    budget.note({ limit: 100, remaining: 3, resetAt: NOW + 60_000 }, NOW);
    expect(client.send(GET)).toMatchObject({ kind: 'refused', code: BUDGET_RESERVED });
    const message = client.send({ ...GET, cost: 'message', method: 'POST', body: Buffer.from('{}') });
    expect((await answerOf(message)).kind).toBe('answer');
    expect(upstream.seen.map((seen) => seen.method)).toEqual(['POST']);
    expect(budget.news().spent).toBe(1);
  });

  it('counts a user kept back among the users spending the budget, and the gateway itself as nobody', async () => {
    budget.note({ limit: 100, remaining: 0, resetAt: NOW + 60_000 }, NOW);
    const client = clientWith();
    expect(client.send({ ...GET, byUser: true }).kind).toBe('refused');
    expect(client.send({ ...GET, client: '10.0.0.8' }).kind).toBe('refused');
    expect(budget.users(NOW)).toBe(1);
  });

  it('spends the budget as a request leaves and settles it when its answer is in', async () => {
    budget.note({ limit: 100, remaining: 50, resetAt: NOW + 60_000 }, NOW);
    const client = clientWith();
    let release: () => void = () => undefined;
    upstream.answer = (_req, res) => {
      release = () => json(200, { success: true })(_req, res);
    };
    const sending = client.send(GET);
    expect(budget.stats(NOW)).toMatchObject({ inFlight: 1, remaining: 49 });
    await upstream.reached();
    expect(budget.stats(NOW).inFlight).toBe(1);
    release();
    expect(await answerOf(sending)).toMatchObject({ kind: 'answer', status: 200 });
    expect(budget.stats(NOW)).toMatchObject({ inFlight: 0, remaining: 49 });
    expect(budget.news().spent).toBe(1);
  });

  it('settles a request that failed at once', async () => {
    upstream.answer = (req) => req.socket.destroy();
    const client = clientWith();
    expect(await answerOf(client.send(GET))).toEqual(UNAVAILABLE);
    expect(budget.stats(NOW).inFlight).toBe(0);
  });

  it('keeps a request given up before its answer among those under way until it would have timed out', async () => {
    upstream.answer = silent;
    const client = clientWith({ upstreamTimeoutMs: 150 });
    const abort = new AbortController();
    const sending = client.send({ ...GET, signal: abort.signal });
    await upstream.reached();
    const givenUpAt = Date.now();
    abort.abort();
    expect(await answerOf(sending)).toEqual(ABANDONED);
    // ElizaOS may still count it: it stays counted, then is settled after upstreamTimeoutMs.
    expect(budget.stats(NOW).inFlight).toBe(1);
    while (budget.stats(NOW).inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(Date.now() - givenUpAt).toBeGreaterThanOrEqual(140);
  });

  it('notes the budget an answer states (RateLimit-*)', async () => {
    upstream.answer = json(200, {}, { 'RateLimit-Limit': '1000', 'RateLimit-Remaining': '640', 'RateLimit-Reset': '120' });
    await answerOf(clientWith().send(GET));
    expect(budget.last(NOW)).toMatchObject({ limit: 1000, remaining: 640, resetAt: NOW + 120_000 });
  });

  it("notes an answer's Retry-After and 429: nothing goes until then", async () => {
    upstream.answer = json(429, {}, { 'Retry-After': '30' });
    const client = clientWith();
    expect(await answerOf(client.send(GET))).toMatchObject({ kind: 'answer', status: 429 });
    expect(budget.stats(NOW)).toMatchObject({ tier: 'empty', blockedUntil: NOW + 30_000 });
    // Messages go first when the hold ends; a read waits MESSAGES_FIRST_MS more.
    expect(client.send({ ...GET, cost: 'message', method: 'POST' })).toMatchObject({ kind: 'refused', code: BUDGET_SPENT, headers: { 'Retry-After': '30' } });
    expect(client.send(GET)).toMatchObject({ kind: 'refused', code: BUDGET_SPENT, headers: { 'Retry-After': String(30 + MESSAGES_FIRST_MS / 1000) } });
    expect(upstream.seen).toHaveLength(1);
  });

  it('spends and notes nothing for a free request, which goes even when the budget is spent', async () => {
    budget.note({ limit: 100, remaining: 0, resetAt: NOW + 60_000 }, NOW);
    budget.news();
    upstream.answer = json(200, { status: 'OK' }, { 'RateLimit-Limit': '100', 'RateLimit-Remaining': '99', 'RateLimit-Reset': '60' });
    const sending = clientWith().send({ ...GET, cost: 'free', path: '/healthz' });
    expect(budget.stats(NOW).inFlight).toBe(0);
    expect(await answerOf(sending)).toMatchObject({ kind: 'answer', status: 200 });
    expect(budget.stats(NOW)).toMatchObject({ inFlight: 0, remaining: 0, tier: 'empty' });
    expect(budget.news().spent).toBe(0);
  });
});

describe('the headers a request carries', () => {
  it('names the client and the gateway, asks for identity encoding, and adds the API key when set', async () => {
    const client = clientWith({ gatewaySecret: 'gateway-secret', upstreamApiKey: 'eliza-key' });
    await answerOf(client.send({ ...GET, client: '::ffff:10.1.2.3' }));
    expect(upstream.seen[0]?.headers).toMatchObject({
      'x-forwarded-for': '10.1.2.3',
      'x-purl-gateway': 'gateway-secret',
      'x-api-key': 'eliza-key',
      'accept-encoding': 'identity',
      accept: 'application/json',
    });
  });

  it('sends no API key or gateway secret when none is set', async () => {
    await answerOf(clientWith().send(GET));
    expect(upstream.seen[0]?.headers['x-api-key']).toBeUndefined();
    expect(upstream.seen[0]?.headers['x-purl-gateway']).toBeUndefined();
    expect(upstream.seen[0]?.headers['x-forwarded-for']).toBe('10.0.0.7');
  });

  it("never passes a browser's credentials, hop-by-hop headers or its own names for the gateway's", async () => {
    const client = clientWith({ gatewaySecret: 'gateway-secret' });
    const browser: http.IncomingHttpHeaders = {
      cookie: 'sid=browser',
      authorization: 'Bearer browser',
      'proxy-authorization': 'Basic browser',
      origin: 'https://evil.example',
      referer: 'https://evil.example/page',
      'x-forwarded-for': '6.6.6.6',
      'x-real-ip': '6.6.6.6',
      'x-purl-gateway': 'forged',
      'x-api-key': 'forged',
      'accept-encoding': 'gzip, br',
      host: 'evil.example',
      connection: 'keep-alive, x-custom',
      'keep-alive': 'timeout=5',
      te: 'trailers',
      upgrade: 'websocket',
      'content-length': '999',
      'content-type': 'application/json',
      'x-custom': 'kept',
      accept: 'text/event-stream',
    };
    const sending = client.send({ ...GET, cost: 'message', method: 'POST', body: Buffer.from('{"text":"hi"}'), headers: browser });
    expect(await answerOf(sending)).toMatchObject({ kind: 'answer', status: 200 });
    const seen = upstream.seen[0]!;
    expect(seen.body).toBe('{"text":"hi"}');
    expect(seen.headers).toMatchObject({
      'content-type': 'application/json',
      'x-custom': 'kept',
      accept: 'text/event-stream',
      'x-forwarded-for': '10.0.0.7',
      'x-purl-gateway': 'gateway-secret',
      'accept-encoding': 'identity',
      'content-length': '13',
      host: upstream.origin.host,
    });
    for (const name of ['cookie', 'authorization', 'proxy-authorization', 'origin', 'referer', 'x-real-ip', 'x-api-key', 'keep-alive', 'te', 'upgrade']) {
      expect(seen.headers[name], name).toBeUndefined();
    }
  });

  it('asks with the validator it keeps, and hands on a 304', async () => {
    upstream.answer = (req, res) => {
      res.writeHead(req.headers['if-none-match'] === '"v1"' ? 304 : 200, { ETag: '"v1"' });
      res.end();
    };
    const read = await answerOf(clientWith().send({ ...GET, ifNoneMatch: '"v1"' }));
    expect(read).toMatchObject({ kind: 'answer', status: 304, headers: { etag: '"v1"' } });
    expect(read.kind === 'answer' && read.body.length).toBe(0);
  });
});

describe('reading an answer', () => {
  it('reads a JSON answer whole', async () => {
    upstream.answer = json(201, { success: true, data: { id: 1 } });
    const read = await answerOf(clientWith().send(GET));
    expect(read).toMatchObject({ kind: 'answer', status: 201, headers: { 'content-type': 'application/json' } });
    expect(read.kind === 'answer' && JSON.parse(read.body.toString('utf8'))).toEqual({ success: true, data: { id: 1 } });
  });

  it('fails an answer over maxJsonBytes with its sentence', async () => {
    upstream.answer = json(200, { data: 'x'.repeat(4096) });
    expect(await answerOf(clientWith({ maxJsonBytes: 1000 }).send(GET))).toEqual({
      kind: 'failed',
      status: 502,
      code: 'UPSTREAM_TOO_LARGE',
      message: "The agent's server sent an answer larger than 1000 bytes, which the gateway does not pass on.",
    });
  });

  it('reads an answer of exactly maxJsonBytes', async () => {
    const body = JSON.stringify({ data: 'x'.repeat(100) });
    upstream.answer = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(body);
    };
    const read = await answerOf(clientWith({ maxJsonBytes: Buffer.byteLength(body) }).send(GET));
    expect(read.kind === 'answer' && read.body.toString('utf8')).toBe(body);
  });

  // undici runs its header and body timeouts on a coarse timer (ticks of about half a
  // second), so each of these takes up to a second whatever upstreamTimeoutMs is.
  it('answers 504 with its sentence when no headers come within upstreamTimeoutMs, and settles the budget at once', async () => {
    upstream.answer = silent;
    const started = Date.now();
    expect(await answerOf(clientWith({ upstreamTimeoutMs: 80 }).send(GET))).toEqual(TIMEOUT);
    expect(Date.now() - started).toBeGreaterThanOrEqual(70);
    // Unlike one given up, it already waited upstreamTimeoutMs: it is not kept among those under way.
    expect(budget.stats(NOW).inFlight).toBe(0);
  });

  it('fails an answer whose body stalls for upstreamTimeoutMs', async () => {
    upstream.answer = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"data":');
    };
    expect(await answerOf(clientWith({ upstreamTimeoutMs: 80 }).send(GET))).toEqual(TIMEOUT);
  });

  it('fails an answer whose connection drops halfway through the body', async () => {
    upstream.answer = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '1000' });
      res.write('{"data":', () => res.socket?.destroy());
    };
    expect(await answerOf(clientWith().send(GET))).toEqual(BROKEN);
  });

  it('answers 502 with its sentence when the connection is refused', async () => {
    const closed = await startFakeUpstream();
    const origin = closed.origin;
    await closed.close();
    const client = createUpstreamClient({ options: { upstream: origin, upstreamTimeoutMs: 2_000, maxJsonBytes: 1024 }, budget, now });
    clients.push(client);
    expect(await answerOf(client.send(GET))).toEqual(UNAVAILABLE);
    expect(budget.stats(NOW).inFlight).toBe(0);
  });

  it('ends a request when its signal aborts, and sends none whose signal already did', async () => {
    upstream.answer = silent;
    const client = clientWith();
    const abort = new AbortController();
    const sending = client.send({ ...GET, signal: abort.signal });
    await upstream.reached();
    abort.abort();
    expect(await answerOf(sending)).toEqual(ABANDONED);
    const before = budget.news().spent;
    expect(await answerOf(client.send({ ...GET, signal: AbortSignal.abort() }))).toEqual(ABANDONED);
    expect(upstream.seen).toHaveLength(1);
    expect(before).toBe(1);
    expect(budget.news().spent).toBe(0);
  });

  it('gives up an answer when its signal aborts during the body', async () => {
    upstream.answer = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"data":');
    };
    const client = clientWith();
    const abort = new AbortController();
    const sending = client.send({ ...GET, signal: abort.signal });
    await upstream.reached();
    await new Promise((resolve) => setTimeout(resolve, 20));
    abort.abort();
    expect(await answerOf(sending)).toEqual(ABANDONED);
    // Its headers were in: ElizaOS had counted it, so it is settled at once.
    expect(budget.stats(NOW).inFlight).toBe(0);
  });

  it('hands a non-JSON answer on as a stream when asked, and still reads JSON whole', async () => {
    upstream.answer = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.end('data: one\n\n');
    };
    const client = clientWith();
    const streamed = client.send({ ...GET, stream: true });
    if (streamed.kind !== 'sent') throw new Error('expected it sent');
    const answer = await streamed.answer;
    expect(answer).toMatchObject({ kind: 'stream', status: 200, headers: { 'content-type': 'text/event-stream' } });
    expect(answer.kind === 'stream' && (await readAll(answer.body))).toBe('data: one\n\n');

    upstream.answer = json(200, { success: true });
    const whole = client.send({ ...GET, stream: true });
    if (whole.kind !== 'sent') throw new Error('expected it sent');
    const read = await whole.answer;
    expect(read.kind).toBe('answer');
    expect(read.kind === 'answer' && read.body.toString('utf8')).toBe('{"success":true}');

    upstream.answer = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('plain');
    };
    const unasked = await answerOf(client.send(GET));
    expect(unasked.kind === 'answer' && unasked.body.toString('utf8')).toBe('plain');
  });
});

describe('closing the client', () => {
  it('lets a request under way finish, then sends nothing more', async () => {
    let release: () => void = () => undefined;
    upstream.answer = (req, res) => {
      release = () => json(200, { success: true })(req, res);
    };
    // Closed here, not by afterEach: undici refuses to close a closed pool.
    const client = createUpstreamClient({ options: { upstream: upstream.origin, upstreamTimeoutMs: 2_000, maxJsonBytes: 1024 }, budget, now });
    const sending = client.send(GET);
    await upstream.reached();
    const closed = client.close();
    release();
    expect(await answerOf(sending)).toMatchObject({ kind: 'answer', status: 200 });
    await closed;
    expect(await answerOf(client.send(GET))).toEqual(UNAVAILABLE);
    expect(upstream.seen).toHaveLength(1);
    expect(budget.stats(NOW).inFlight).toBe(0);
  });
});
