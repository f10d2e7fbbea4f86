import { afterEach, describe, expect, it, vi } from 'vitest';
import { PurlError } from '../src/shared/errors';
import type { Priority } from '../src/shared/network';
import { RequestQueue, type QueueOptions, type QueueStats } from './queue';

interface Call {
  request: Request;
  signal: AbortSignal;
  resolve: (response: Response) => void;
  reject: (error: unknown) => void;
}

/** A network whose answers the test gives by hand, in any order. */
function fakeNetwork() {
  const calls: Call[] = [];
  const send = vi.fn((request: Request, signal: AbortSignal) => new Promise<Response>((resolve, reject) => calls.push({ request, signal, resolve, reject })));
  /** The paths sent so far, in the order they started. */
  const sent = () => calls.map((call) => new URL(call.request.url).pathname);
  const callFor = (path: string): Call => {
    const call = calls.find((c) => new URL(c.request.url).pathname === path);
    if (!call) throw new Error(`${path} was not sent`);
    return call;
  };
  return { calls, send, sent, callFor };
}

const get = (path: string, init?: RequestInit) => new Request(`https://purl.test${path}`, init);
const post = (path: string, body: string) => new Request(`https://purl.test${path}`, { method: 'POST', body });

function makeQueue(network: ReturnType<typeof fakeNetwork>, options: Partial<QueueOptions> = {}) {
  return new RequestQueue({ maxConcurrent: () => 3, maxPending: 100, timeoutMs: 10_000, send: network.send, ...options });
}

/** Answers a path and waits until its callers have heard (so the queue has moved on). */
async function answer(network: ReturnType<typeof fakeNetwork>, path: string, done: Promise<unknown>, body = path) {
  network.callFor(path).resolve(new Response(body));
  await done;
}

const codeOf = (error: unknown) => (error instanceof PurlError ? error.code : error);

afterEach(() => {
  vi.useRealTimers();
});

describe('order and cap', () => {
  it('starts the most important waiting request when a slot frees, user first and background last', async () => {
    const network = fakeNetwork();
    const queue = makeQueue(network, { maxConcurrent: () => 2 });
    const a = queue.enqueue(get('/a'), 'background');
    const b = queue.enqueue(get('/b'), 'background');
    const waiting = (['background', 'memories', 'chat', 'user'] as Priority[]).map((priority) => queue.enqueue(get(`/${priority}`), priority));
    expect(network.sent()).toEqual(['/a', '/b']);
    expect(queue.stats()).toMatchObject({ pending: 4, inFlight: 2 });

    await answer(network, '/a', a);
    await answer(network, '/b', b);
    expect(network.sent()).toEqual(['/a', '/b', '/user', '/chat']);
    await answer(network, '/user', waiting[3]!);
    await answer(network, '/chat', waiting[2]!);
    expect(network.sent()).toEqual(['/a', '/b', '/user', '/chat', '/memories', '/background']);
  });

  it('keeps first-in-first-out order within a class', async () => {
    const network = fakeNetwork();
    const queue = makeQueue(network, { maxConcurrent: () => 1 });
    const first = queue.enqueue(get('/first'), 'chat');
    const second = queue.enqueue(get('/second'), 'chat');
    const third = queue.enqueue(get('/third'), 'chat');
    await answer(network, '/first', first);
    await answer(network, '/second', second);
    expect(network.sent()).toEqual(['/first', '/second', '/third']);
    await answer(network, '/third', third);
  });

  it('reads the cap at every dispatch, so lowering it holds back the next start', async () => {
    const network = fakeNetwork();
    let cap = 3;
    const queue = makeQueue(network, { maxConcurrent: () => cap });
    const running = ['/1', '/2', '/3'].map((path) => queue.enqueue(get(path), 'memories'));
    const waiting = queue.enqueue(get('/4'), 'memories');
    expect(queue.stats()).toMatchObject({ pending: 1, inFlight: 3 });

    cap = 2; // high-load mode switched on
    await answer(network, '/1', running[0]!);
    expect(queue.stats()).toMatchObject({ pending: 1, inFlight: 2 });
    await answer(network, '/2', running[1]!);
    expect(network.sent()).toEqual(['/1', '/2', '/3', '/4']);
    expect(queue.stats()).toMatchObject({ pending: 0, inFlight: 2 });
    await answer(network, '/3', running[2]!);
    await answer(network, '/4', waiting);
  });

  it('treats a cap below one as one, so requests never stall', () => {
    const network = fakeNetwork();
    const queue = makeQueue(network, { maxConcurrent: () => 0 });
    void queue.enqueue(get('/a'), 'chat');
    void queue.enqueue(get('/b'), 'chat');
    expect(queue.stats()).toMatchObject({ pending: 1, inFlight: 1 });
  });
});

describe('deduplication', () => {
  it('sends identical pending GETs once and gives each caller a body of its own', async () => {
    const network = fakeNetwork();
    const queue = makeQueue(network, { maxConcurrent: () => 1 });
    const blocker = queue.enqueue(get('/blocker'), 'chat');
    const one = queue.enqueue(get('/memories'), 'memories');
    const two = queue.enqueue(get('/memories'), 'memories');
    expect(queue.stats()).toMatchObject({ pending: 1, deduplicated: 1 });

    await answer(network, '/blocker', blocker);
    network.callFor('/memories').resolve(new Response('[1,2]'));
    const [first, second] = await Promise.all([one, two]);
    expect(await first.text()).toBe('[1,2]');
    expect(await second.text()).toBe('[1,2]');
    expect(network.send).toHaveBeenCalledTimes(2);
  });

  it('lets an identical GET join one already in flight', async () => {
    const network = fakeNetwork();
    const queue = makeQueue(network);
    const one = queue.enqueue(get('/memories'), 'memories');
    const two = queue.enqueue(get('/memories'), 'chat');
    expect(queue.stats()).toMatchObject({ pending: 0, inFlight: 1, deduplicated: 1 });

    network.callFor('/memories').resolve(new Response('fresh'));
    const [first, second] = await Promise.all([one, two]);
    expect([await first.text(), await second.text()]).toEqual(['fresh', 'fresh']);
    expect(network.send).toHaveBeenCalledTimes(1);
  });

  it('ignores headers other than the method and URL when matching GETs', () => {
    const network = fakeNetwork();
    const queue = makeQueue(network);
    void queue.enqueue(get('/agents', { headers: { Accept: 'application/json' } }), 'background');
    void queue.enqueue(get('/agents', { headers: { 'X-Tab': '2' } }), 'background');
    expect(network.send).toHaveBeenCalledTimes(1);
  });

  it('shares a failure with every caller of a deduplicated GET', async () => {
    const network = fakeNetwork();
    const queue = makeQueue(network);
    const one = queue.enqueue(get('/memories'), 'memories');
    const two = queue.enqueue(get('/memories'), 'memories');
    const failure = new PurlError('network-error');
    network.callFor('/memories').reject(failure);
    await expect(one).rejects.toBe(failure);
    await expect(two).rejects.toBe(failure);
  });

  it('sends a GET again once the identical one has settled', async () => {
    const network = fakeNetwork();
    const queue = makeQueue(network);
    await answer(network, '/memories', queue.enqueue(get('/memories'), 'memories'));
    void queue.enqueue(get('/memories'), 'memories');
    expect(network.send).toHaveBeenCalledTimes(2);
  });

  it('raises a waiting GET to the class of a more important caller that joins it', async () => {
    const network = fakeNetwork();
    const queue = makeQueue(network, { maxConcurrent: () => 1 });
    const blocker = queue.enqueue(get('/blocker'), 'chat');
    const chat = queue.enqueue(get('/chat'), 'chat');
    const poll = queue.enqueue(get('/memories'), 'background');
    const opened = queue.enqueue(get('/memories'), 'user');

    await answer(network, '/blocker', blocker);
    expect(network.sent()).toEqual(['/blocker', '/memories']);
    await answer(network, '/memories', Promise.all([poll, opened]));
    await answer(network, '/chat', chat);
  });

  it('never deduplicates POSTs, even identical ones', () => {
    const network = fakeNetwork();
    const queue = makeQueue(network);
    void queue.enqueue(post('/messages', 'hi'), 'user');
    void queue.enqueue(post('/messages', 'hi'), 'user');
    expect(network.send).toHaveBeenCalledTimes(2);
    expect(queue.stats()).toMatchObject({ inFlight: 2, deduplicated: 0 });
  });
});

describe('the bound on waiting requests', () => {
  /** A queue with one slot, already taken, so everything enqueued next waits. */
  function fullSlotQueue(maxPending: number) {
    const network = fakeNetwork();
    const queue = makeQueue(network, { maxConcurrent: () => 1, maxPending });
    const blocker = queue.enqueue(get('/blocker'), 'user');
    return { network, queue, blocker };
  }

  it('drops the oldest request of the lowest class when full', async () => {
    const { queue } = fullSlotQueue(3);
    const memories = queue.enqueue(get('/memories'), 'memories');
    const olderPoll = queue.enqueue(get('/bg/1'), 'background');
    const newerPoll = queue.enqueue(get('/bg/2'), 'background');
    const chat = queue.enqueue(get('/chat'), 'chat');

    expect(codeOf(await olderPoll.catch((error: unknown) => error))).toBe('queue-full');
    expect(queue.stats()).toMatchObject({ pending: 3, dropped: 1 });
    // The survivors are still waiting, not settled.
    const settled = vi.fn();
    void Promise.race([memories, newerPoll, chat]).then(settled, settled);
    await Promise.resolve();
    expect(settled).not.toHaveBeenCalled();
  });

  it('rejects the incoming request when it is the least important', async () => {
    const { queue } = fullSlotQueue(2);
    void queue.enqueue(get('/chat'), 'chat');
    void queue.enqueue(get('/memories'), 'memories');
    const incoming = queue.enqueue(get('/bg'), 'background');

    await expect(incoming).rejects.toMatchObject({ code: 'queue-full' });
    expect(queue.stats()).toMatchObject({ pending: 2, dropped: 1 });
  });

  it('rejects every caller of a dropped deduplicated GET', async () => {
    const { queue } = fullSlotQueue(1);
    const one = queue.enqueue(get('/memories'), 'background');
    const two = queue.enqueue(get('/memories'), 'background');
    void queue.enqueue(get('/chat'), 'chat');
    await expect(one).rejects.toMatchObject({ code: 'queue-full' });
    await expect(two).rejects.toMatchObject({ code: 'queue-full' });
  });

  it('never drops a user request, which may take the queue past maxPending', async () => {
    const { network, queue, blocker } = fullSlotQueue(1);
    const messages = [1, 2, 3].map((n) => queue.enqueue(post('/messages', `m${n}`), 'user'));
    const chat = queue.enqueue(get('/chat'), 'chat');
    const poll = queue.enqueue(get('/bg'), 'background');

    await expect(poll).rejects.toMatchObject({ code: 'queue-full' });
    expect(queue.stats()).toMatchObject({ pending: 4, dropped: 1 });

    await answer(network, '/blocker', blocker);
    for (const message of messages) {
      network.calls.at(-1)!.resolve(new Response('ok'));
      await message;
    }
    expect(network.calls.slice(1, 4).map((call) => call.request.method)).toEqual(['POST', 'POST', 'POST']);
    network.callFor('/chat').resolve(new Response('ok'));
    await chat;
  });

  it('never drops a user request that joined a waiting GET', async () => {
    const { queue } = fullSlotQueue(1);
    const poll = queue.enqueue(get('/agents'), 'background');
    const user = queue.enqueue(get('/agents'), 'user');
    void queue.enqueue(get('/chat'), 'chat');
    expect(queue.stats()).toMatchObject({ pending: 2, dropped: 0 });
    const settled = vi.fn();
    void Promise.race([poll, user]).then(settled, settled);
    await Promise.resolve();
    expect(settled).not.toHaveBeenCalled();
  });
});

describe('timeouts', () => {
  it('aborts a request that runs past timeoutMs and rejects it with code timeout', async () => {
    vi.useFakeTimers();
    const network = fakeNetwork();
    const queue = makeQueue(network, { timeoutMs: 1_000 });
    const request = queue.enqueue(get('/slow'), 'chat');

    vi.advanceTimersByTime(999);
    expect(network.calls[0]!.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    await expect(request).rejects.toMatchObject({ code: 'timeout' });
    expect(network.calls[0]!.signal.aborted).toBe(true);
    expect(codeOf(network.calls[0]!.signal.reason)).toBe('timeout');
    expect(queue.stats()).toMatchObject({ inFlight: 0, timedOut: 1 });
  });

  it('frees the slot of a timed-out request even when send ignores the abort', async () => {
    vi.useFakeTimers();
    const network = fakeNetwork();
    const queue = makeQueue(network, { maxConcurrent: () => 1, timeoutMs: 1_000 });
    const stuck = queue.enqueue(get('/stuck'), 'chat').catch(codeOf);
    const next = queue.enqueue(get('/next'), 'chat');

    vi.advanceTimersByTime(1_000);
    expect(await stuck).toBe('timeout');
    expect(network.sent()).toEqual(['/stuck', '/next']);
    network.callFor('/stuck').resolve(new Response('too late'));
    await answer(network, '/next', next);
    expect(queue.stats()).toMatchObject({ pending: 0, inFlight: 0, timedOut: 1 });
  });

  it('counts the timeout from when a request starts, not from when it was enqueued', async () => {
    vi.useFakeTimers();
    const network = fakeNetwork();
    const queue = makeQueue(network, { maxConcurrent: () => 1, timeoutMs: 1_000 });
    const first = queue.enqueue(get('/first'), 'chat');
    const second = queue.enqueue(get('/second'), 'chat').catch(codeOf);

    vi.advanceTimersByTime(900);
    await answer(network, '/first', first);
    vi.advanceTimersByTime(999);
    expect(queue.stats()).toMatchObject({ inFlight: 1, timedOut: 0 });
    vi.advanceTimersByTime(1);
    expect(await second).toBe('timeout');
  });

  it('reads a timeout given as a function when each request starts, and falls back to 30 s when it is out of range', async () => {
    const timers: number[] = [];
    const network = fakeNetwork();
    let setting = 3_000;
    const queue = makeQueue(network, {
      timeoutMs: () => setting,
      setTimer: (_callback, ms) => {
        timers.push(ms);
        return () => {};
      },
    });
    void queue.enqueue(get('/one'), 'chat');
    setting = 1_500;
    void queue.enqueue(get('/two'), 'chat');
    setting = Number.NaN;
    void queue.enqueue(get('/three'), 'chat');
    expect(timers).toEqual([3_000, 1_500, 30_000]);
  });

  it('uses an injected timer when one is given', async () => {
    const timers: Array<{ callback: () => void; ms: number }> = [];
    const network = fakeNetwork();
    const queue = makeQueue(network, {
      timeoutMs: 5_000,
      setTimer: (callback, ms) => {
        timers.push({ callback, ms });
        return () => {};
      },
    });
    const request = queue.enqueue(get('/slow'), 'chat');
    expect(timers.map((t) => t.ms)).toEqual([5_000]);
    timers[0]!.callback();
    await expect(request).rejects.toMatchObject({ code: 'timeout' });
  });
});

describe('failures', () => {
  it('frees the slot of a failed send and starts the next request', async () => {
    const network = fakeNetwork();
    const queue = makeQueue(network, { maxConcurrent: () => 1 });
    const failing = queue.enqueue(get('/failing'), 'chat');
    const next = queue.enqueue(get('/next'), 'chat');

    const failure = new PurlError('network-error');
    network.callFor('/failing').reject(failure);
    await expect(failing).rejects.toBe(failure);
    expect(network.sent()).toEqual(['/failing', '/next']);
    await answer(network, '/next', next);
    expect(queue.stats()).toMatchObject({ pending: 0, inFlight: 0 });
  });

  it('treats a send that throws like one that rejects', async () => {
    const network = fakeNetwork();
    const boom = new TypeError('boom');
    let calls = 0;
    const queue = makeQueue(network, {
      maxConcurrent: () => 1,
      send: (request, signal) => {
        calls++;
        if (calls === 1) throw boom;
        return network.send(request, signal);
      },
    });
    const throwing = queue.enqueue(get('/throwing'), 'chat');
    const next = queue.enqueue(get('/next'), 'chat');
    await expect(throwing).rejects.toBe(boom);
    await answer(network, '/next', next);
  });

  it('rejects an unknown priority with a RangeError', async () => {
    const queue = makeQueue(fakeNetwork());
    await expect(queue.enqueue(get('/x'), 'urgent' as Priority)).rejects.toBeInstanceOf(RangeError);
  });

  it('rejects bad options with a RangeError naming the value', () => {
    const send = fakeNetwork().send;
    const make = (options: Partial<QueueOptions>) => () => new RequestQueue({ maxConcurrent: () => 3, maxPending: 10, timeoutMs: 1_000, send, ...options });
    expect(make({ maxPending: -1 })).toThrow(/-1/);
    expect(make({ maxPending: 1.5 })).toThrow(RangeError);
    expect(make({ timeoutMs: 0 })).toThrow(RangeError);
    expect(make({ timeoutMs: Number.NaN })).toThrow(/NaN/);
    expect(make({ maxPending: Infinity })).not.toThrow();
  });
});

describe('stats', () => {
  it('reports pending and in-flight counts to onChange whenever they change', async () => {
    const network = fakeNetwork();
    const seen: Array<Pick<QueueStats, 'pending' | 'inFlight'>> = [];
    const queue = makeQueue(network, {
      maxConcurrent: () => 1,
      onChange: ({ pending, inFlight }) => seen.push({ pending, inFlight }),
    });
    const a = queue.enqueue(get('/a'), 'chat');
    const b = queue.enqueue(get('/b'), 'chat');
    await answer(network, '/a', a);
    await answer(network, '/b', b);
    expect(seen).toEqual([
      { pending: 0, inFlight: 1 },
      { pending: 1, inFlight: 1 },
      { pending: 0, inFlight: 1 },
      { pending: 0, inFlight: 0 },
    ]);
  });

  it('counts drops, joins and timeouts', async () => {
    vi.useFakeTimers();
    const network = fakeNetwork();
    const queue = makeQueue(network, { maxConcurrent: () => 1, maxPending: 1, timeoutMs: 1_000 });
    void queue.enqueue(get('/slow'), 'chat').catch(() => {
      /* times out below; the count is what this test reads */
    });
    void queue.enqueue(get('/memories'), 'memories');
    void queue.enqueue(get('/memories'), 'memories');
    void queue.enqueue(get('/bg'), 'background').catch(() => {
      /* dropped: the count is what this test reads */
    });
    vi.advanceTimersByTime(1_000);
    expect(queue.stats()).toEqual({ pending: 0, inFlight: 1, dropped: 1, deduplicated: 1, timedOut: 1 });
  });

  it('keeps going when an onChange listener throws', async () => {
    const network = fakeNetwork();
    const broken = new Error('listener bug');
    const uncaught = vi.fn();
    const queueMicrotask = vi.spyOn(globalThis, 'queueMicrotask').mockImplementation(uncaught);
    const queue = makeQueue(network, {
      onChange: () => {
        throw broken;
      },
    });
    const request = queue.enqueue(get('/a'), 'chat');
    await answer(network, '/a', request);
    expect(queue.stats()).toMatchObject({ pending: 0, inFlight: 0 });
    expect(uncaught).toHaveBeenCalled();
    queueMicrotask.mockRestore();
  });
});
