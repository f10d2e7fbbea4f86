import { describe, expect, it } from 'vitest';
import { manualClock } from '../../../src/shared/clock';
import { FakeSocket } from '../test-kit';
import { createUpstreamSocket, type SocketLike, type UpstreamSocketOptions } from './upstream-socket';

const CHANNEL = 'aaaaaaaa-0000-4000-8000-000000000001';
const USER = '11111111-0000-4000-8000-000000000002';
/** Lets the fake's queued answers (microtasks) and the isolation question's promise run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

function socketOn(options: Partial<UpstreamSocketOptions> = {}) {
  const clock = manualClock(1_000);
  const fake = new FakeSocket();
  const upstream = createUpstreamSocket({ upstream: new URL('http://eliza.test'), clock, connect: () => fake.connect() as unknown as SocketLike, ...options });
  return { clock, fake, upstream };
}

describe('the upstream socket, on an injected clock', () => {
  it('connects on the first subscriber, and joins once ElizaOS says it does not isolate', async () => {
    const { fake, upstream } = socketOn();
    expect(fake.connects).toBe(0);
    upstream.subscribe(CHANNEL.toUpperCase());
    await settle();
    expect(upstream.state()).toBe('up');
    expect(fake.joinsOf(CHANNEL)).toBe(1);
    expect(upstream.isJoined(CHANNEL)).toBe(true);
    expect(upstream.stats()).toMatchObject({ state: 'up', since: 1_000, channels: 1 });
  });

  it('asks again after isolationRetryMs on the clock when ElizaOS could not tell, and stays down meanwhile', async () => {
    const answers: (boolean | undefined)[] = [undefined, false];
    const { clock, upstream } = socketOn({ isIsolated: async () => answers.shift(), isolationRetryMs: 5_000 });
    upstream.subscribe(CHANNEL);
    await settle();
    expect(upstream.state()).toBe('down');
    clock.advance(4_999);
    await settle();
    expect(answers).toHaveLength(1);
    clock.advance(1);
    await settle();
    expect(upstream.state()).toBe('up');
  });

  it('forgets a channel lingerMs after its last listener left, and joins it again when it is listened to', async () => {
    const { clock, fake, upstream } = socketOn({ lingerMs: 60_000 });
    const release = upstream.subscribe(CHANNEL);
    await settle();
    release();
    release();
    clock.advance(59_999);
    expect(upstream.isJoined(CHANNEL)).toBe(true);
    clock.advance(1);
    expect(upstream.isJoined(CHANNEL)).toBe(false);
    upstream.subscribe(CHANNEL);
    await settle();
    expect(fake.joinsOf(CHANNEL)).toBe(2);
  });

  it('tries again after retryMs when the server refused the socket itself', async () => {
    const { clock, fake, upstream } = socketOn({ retryMs: 30_000 });
    upstream.subscribe(CHANNEL);
    await settle();
    fake.active = false;
    fake.deliver('connect_error', new Error('bad key'));
    expect(upstream.state()).toBe('down');
    clock.advance(29_999);
    expect(fake.connects).toBe(1);
    clock.advance(1);
    expect(fake.connects).toBe(2);
  });

  it('times a send out on the clock when ElizaOS never acknowledges it', async () => {
    const { clock, fake, upstream } = socketOn();
    upstream.subscribe(CHANNEL);
    await settle();
    fake.sends = 'ignore';
    const outcome = upstream.send({ channelId: CHANNEL, senderId: USER, senderName: 'Ann', text: 'hi' }, 10_000);
    clock.advance(10_000);
    await expect(outcome).resolves.toEqual({ kind: 'timeout' });
  });

  it('leaves no timer behind once closed', async () => {
    const { clock, fake, upstream } = socketOn({ isIsolated: async () => undefined });
    upstream.subscribe(CHANNEL)();
    await settle();
    fake.active = false;
    fake.deliver('connect_error', new Error('bad key'));
    expect(clock.pending()).toBeGreaterThan(0);
    upstream.close();
    expect(clock.pending()).toBe(0);
  });
});
