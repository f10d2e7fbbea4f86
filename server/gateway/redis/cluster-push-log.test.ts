/**
 * The cluster's push log on a log kept in memory (what server/gateway/redis/push-log.ts does
 * on Redis, minus Redis) and a clock the test moves: ids from the log, the fallback to local
 * ids, announcements and replays. push-log.redis.test.ts runs the same through a real Redis.
 */
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../../../src/shared/clock';
import { createPush } from '../push/push';
import { FakeResponse, FakeUpstream, pushedMessage } from '../push/push-fakes';
import { mintPushToken } from '../push/push-token';
import { TEST_PUSH_KEY } from '../test-kit';
import { clusterPushLog } from './cluster-push-log';
import type { LogEntry, LogPosition, SharedPushLog } from './push-log';

const LOCAL_EPOCH = '0123456789ab';
const LOG_EPOCH = 'aaaaaaaaaaaa';
const A = 'c0c0c0c0-0000-4000-8000-00000000000a';
const B = 'c0c0c0c0-0000-4000-8000-00000000000b';
const SESSION_A = 'a0a0a0a0-0000-4000-8000-00000000000a';
const REQ = { destroyed: false } as IncomingMessage;

/** The cluster's log in memory; `up = false` makes every call fail, `stuck` holds reads forever. */
class MemoryLog implements SharedPushLog {
  up = true;
  stuck = false;
  epoch = LOG_EPOCH;
  n = 0;
  entries: LogEntry[] = [];
  readonly announced = new Map<string, number>();
  readonly #seen = new Map<string, number>();
  #wake: (() => void)[] = [];

  #position = (): LogPosition | undefined => (this.up ? { epoch: this.epoch, n: this.n } : undefined);
  #add(entry: LogEntry) {
    this.entries.push(entry);
    for (const wake of this.#wake.splice(0)) wake();
  }
  /** Redis goes away: a read under way fails, as a blocked XREAD does. */
  fail() {
    this.up = false;
    for (const wake of this.#wake.splice(0)) wake();
  }
  async append(channelId: string, messageId: string, json: string) {
    if (!this.up) return undefined;
    const key = `${channelId}:${messageId}`;
    if (!this.#seen.has(key)) {
      this.#seen.set(key, ++this.n);
      this.#add({ kind: 'message', n: this.n, channelId, messageId, json });
    }
    return this.#position();
  }
  async notice(agentId: string, cursor: string) {
    if (!this.up) return undefined;
    this.#add({ kind: 'memories', n: ++this.n, agentId, cursor });
    return this.#position();
  }
  async position() {
    return this.#position();
  }
  async since(n: number) {
    return this.up ? { epoch: this.epoch, n: this.n, entries: this.entries.filter((entry) => entry.n > n) } : undefined;
  }
  async follow(n: number, blockMs: number): Promise<{ entries: LogEntry[]; last: number } | undefined> {
    const after = () => this.entries.filter((entry) => entry.n > n);
    // A read waits for entries (or, stuck, for ever) until Redis goes away.
    while (this.up && (this.stuck || (after().length === 0 && blockMs > 0))) await new Promise<void>((resolve) => this.#wake.push(resolve));
    if (!this.up) return undefined;
    return { entries: after(), last: Math.max(n, ...after().map((entry) => entry.n)) };
  }
  async announce(channelIds: string[], until: number) {
    for (const channelId of channelIds) this.announced.set(channelId, until);
  }
  async channels(now: number) {
    return this.up ? [...this.announced].filter(([, until]) => until > now).map(([channelId]) => channelId) : undefined;
  }
}

/** Lets the log's answers and the follower's reads run. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
};

async function cluster() {
  const upstream = new FakeUpstream();
  const clock = manualClock(1_000_000);
  const log = new MemoryLog();
  let redis: 'up' | 'down' = 'up';
  const push = createPush({
    key: TEST_PUSH_KEY,
    upstream,
    maxStreamsPerClient: 8,
    epoch: LOCAL_EPOCH,
    clock,
    log: clusterPushLog({ log, state: () => redis, joinEveryMs: 100 }),
  });
  const open = (lastEventId?: string) => {
    const res = new FakeResponse();
    const session = { sessionId: SESSION_A, channelId: A, token: mintPushToken(TEST_PUSH_KEY, SESSION_A, A) };
    push.serve(REQ, res.asResponse(), { sessions: [session], ...(lastEventId ? { lastEventId } : {}) }, '127.0.0.1');
    return res;
  };
  const setRedis = (state: 'up' | 'down') => {
    redis = state;
    if (state === 'down') log.fail();
    else log.up = true;
  };
  await settle();
  return { upstream, clock, log, push, open, setRedis };
}

const ids = (res: FakeResponse) =>
  res
    .events()
    .filter((event) => event.event === 'message')
    .map((event) => event.id);

describe('the push route on the cluster’s log', () => {
  it('follows the log once it can be read, and gives a message heard here the log’s id when it comes back, once', async () => {
    const { upstream, log, push, open } = await cluster();
    expect(push.stats().log).toEqual({ mode: 'shared', epoch: LOG_EPOCH, n: 0, clusterChannels: 0, coveredChannels: 0 });
    const res = open();
    expect(res.events()[0]).toMatchObject({ event: 'hello', id: `${LOG_EPOCH}.0` });
    upstream.join(A);
    const message = pushedMessage();
    upstream.say(A, message);
    // Another instance heard it too: the log keeps it once.
    await log.append(A, message.id, JSON.stringify(message));
    await settle();
    expect(ids(res)).toEqual([`${LOG_EPOCH}.1`]);
    expect(push.stats()).toMatchObject({ eventsIn: 1, eventsOut: 1, log: { mode: 'shared', n: 1, coveredChannels: 1 } });
  });

  it('writes a message heard here with a local id when the log does not give it back within 1.5 s', async () => {
    const { upstream, clock, log, open } = await cluster();
    const res = open();
    upstream.join(A);
    log.stuck = true;
    upstream.say(A, pushedMessage());
    await settle();
    clock.advance(1_000);
    expect(ids(res)).toEqual([]);
    clock.advance(1_000);
    expect(ids(res)).toEqual([`${LOCAL_EPOCH}.1`]);
  });

  it('numbers its own events while Redis is down, writing at once what was appended and not read back', async () => {
    const { upstream, clock, log, push, open, setRedis } = await cluster();
    const res = open();
    upstream.join(A);
    log.stuck = true;
    upstream.say(A, pushedMessage());
    await settle();
    setRedis('down');
    clock.advance(250);
    await settle();
    expect(push.stats().log!.mode).toBe('local');
    expect(ids(res)).toEqual([`${LOCAL_EPOCH}.1`]);
    upstream.say(A, pushedMessage());
    expect(ids(res)).toEqual([`${LOCAL_EPOCH}.1`, `${LOCAL_EPOCH}.2`]);
    // A memories notice goes to the streams here while the log cannot carry it.
    push.memoriesChanged('2a6e1e0c-4b7f-4c55-9c1a-1f0e0a7b3c11', `${LOCAL_EPOCH}.1`);
    expect(res.events().at(-1)!.event).toBe('memories');
  });

  it('announces the channels listened to here and listens upstream to the ones listened to anywhere in the cluster', async () => {
    const { upstream, clock, log, push, open } = await cluster();
    open();
    log.announced.set(B, clock.now() + 60_000);
    clock.advance(100);
    await settle();
    expect(log.announced.get(A)).toBe(clock.now() + 60_000);
    expect(upstream.subscriptions.get(B)).toBe(1);
    expect(push.stats().log!.clusterChannels).toBe(2);
    log.announced.delete(B);
    clock.advance(100);
    await settle();
    expect(upstream.subscriptions.get(B)).toBe(0);
  });

  it('replays from the log a channel heard throughout since the browser’s id, and resets one it cannot vouch for', async () => {
    const { upstream, log, push, open } = await cluster();
    const first = open();
    upstream.join(A);
    await settle();
    for (let i = 0; i < 3; i++) upstream.say(A, pushedMessage());
    await settle();
    first.close();
    const back = open(`${LOG_EPOCH}.1`);
    await settle();
    expect(back.events().map((event) => [event.event, event.id])).toEqual([
      ['hello', `${LOG_EPOCH}.1`],
      ['message', `${LOG_EPOCH}.2`],
      ['message', `${LOG_EPOCH}.3`],
    ]);
    // Another epoch (Redis lost its data): nothing can be vouched for.
    const stale = open('ffffffffffff.2');
    expect(stale.events().map((event) => event.event)).toEqual(['hello', 'reset']);
    expect(push.stats()).toMatchObject({ replayed: 1, resets: 1 });
    expect(log.n).toBe(3);
  });
});
