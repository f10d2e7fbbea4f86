import { describe, expect, it } from 'vitest';
import type { Command } from '../shared/messages';
import { createPushHolder, type Stream } from './push';

/** An EventSource as far as the holder uses it: the test emits events and errors. */
class FakeStream implements Stream {
  readyState = 0;
  closed = false;
  onerror: ((event: Event) => void) | null = null;
  readonly #listeners = new Map<string, (event: MessageEvent<string>) => void>();
  constructor(readonly url: string) {}
  addEventListener(type: string, listener: (event: MessageEvent<string>) => void): void {
    this.#listeners.set(type, listener);
  }
  emit(type: string, data: string, lastEventId = ''): void {
    this.readyState = 1;
    this.#listeners.get(type)?.({ data, lastEventId } as MessageEvent<string>);
  }
  fail(gaveUp: boolean): void {
    this.readyState = gaveUp ? 2 : 0;
    this.onerror?.(new Event('error'));
  }
  close(): void {
    this.closed = true;
    this.readyState = 2;
  }
}

function holderWith(target: { url: string | undefined }) {
  const streams: FakeStream[] = [];
  const sent: Extract<Command, { type: 'push' }>[] = [];
  const timers: { ms: number; run: () => void; cancelled: boolean }[] = [];
  const holder = createPushHolder({
    target: async () => target.url,
    open: (url) => {
      const stream = new FakeStream(url);
      streams.push(stream);
      return stream;
    },
    send: (command) => sent.push(command),
    setTimer: (run, ms) => {
      const timer = { ms, run, cancelled: false };
      timers.push(timer);
      return () => (timer.cancelled = true);
    },
  });
  return { holder, streams, sent, timers };
}

const URL_A = '/api/purl/push?session=s1.c1.tokenA&lastEventId=ep.3';

describe('the push holder (the leader tab)', () => {
  it('opens the stream and hands each named event to the worker as it came, id included', async () => {
    const { holder, streams, sent } = holderWith({ url: URL_A });
    await holder.start();
    expect(streams.map((stream) => stream.url)).toEqual([URL_A]);
    streams[0]!.emit('hello', '{"epoch":"ep","upstream":"up"}', 'ep.3');
    streams[0]!.emit('message', '{"sessionId":"s1"}', 'ep.4');
    streams[0]!.emit('surprise', '{}');
    // Not replayed: no id.
    streams[0]!.emit('memories', '{"agentId":"a1","cursor":"0123456789ab.7"}');
    expect(sent).toEqual([
      { type: 'push', event: 'hello', id: 'ep.3', data: '{"epoch":"ep","upstream":"up"}' },
      { type: 'push', event: 'message', id: 'ep.4', data: '{"sessionId":"s1"}' },
      { type: 'push', event: 'memories', data: '{"agentId":"a1","cursor":"0123456789ab.7"}' },
    ]);
  });

  it('says down once when the connection drops and leaves the reconnecting to EventSource', async () => {
    const { holder, streams, sent, timers } = holderWith({ url: URL_A });
    await holder.start();
    streams[0]!.fail(false);
    streams[0]!.fail(false);
    expect(sent).toEqual([{ type: 'push', event: 'down' }]);
    expect(timers).toEqual([]);
    expect(streams).toHaveLength(1);
  });

  it('opens again later, backing off, when the gateway refused the stream, and says down only once for the outage', async () => {
    const target = { url: URL_A as string | undefined };
    const { holder, streams, sent, timers } = holderWith(target);
    await holder.start();
    streams[0]!.fail(true);
    expect(timers.map((timer) => timer.ms)).toEqual([2_000]);
    timers[0]!.run();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(streams).toHaveLength(2);
    streams[1]!.fail(true);
    expect(timers.map((timer) => timer.ms)).toEqual([2_000, 4_000]);
    expect(sent.filter((command) => command.event === 'down')).toHaveLength(1);
    // Back: the next refusal starts from 2 s again.
    timers[1]!.run();
    await new Promise((resolve) => setTimeout(resolve, 0));
    streams[2]!.emit('hello', '{}', 'ep.9');
    streams[2]!.fail(true);
    expect(timers.at(-1)!.ms).toBe(2_000);
    expect(sent.filter((command) => command.event === 'down')).toHaveLength(2);
  });

  it('reopens for a new session, not for a new replay position, and says down when there is nothing to subscribe to', async () => {
    const target = { url: URL_A as string | undefined };
    const { holder, streams, sent } = holderWith(target);
    await holder.start();
    target.url = '/api/purl/push?session=s1.c1.tokenA&lastEventId=ep.7';
    await holder.retarget();
    expect(streams).toHaveLength(1);
    target.url = '/api/purl/push?session=s2.c2.tokenB';
    await holder.retarget();
    expect(streams.map((stream) => stream.closed)).toEqual([true, false]);
    expect(streams[1]!.url).toBe(target.url);
    target.url = undefined;
    await holder.retarget();
    expect(streams[1]!.closed).toBe(true);
    expect(sent).toEqual([{ type: 'push', event: 'down' }]);
  });

  it('says nothing when its own tab goes away (stop), so closing the leader tab is not push going down', async () => {
    const { holder, streams, sent } = holderWith({ url: URL_A });
    await holder.start();
    const stream = streams[0]!;
    holder.stop();
    stream.fail(false);
    expect(sent).toEqual([]);
  });

  it('stops for good when told to', async () => {
    const { holder, streams, timers } = holderWith({ url: URL_A });
    await holder.start();
    streams[0]!.fail(true);
    holder.stop();
    expect(timers[0]!.cancelled).toBe(true);
    await holder.retarget();
    expect(streams).toHaveLength(1);
  });
});
