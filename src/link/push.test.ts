import { describe, expect, it, vi } from 'vitest';
import { PurlError } from '../shared/errors';
import type { Command } from '../shared/messages';
import { createPushDelivery, createPushHolder, PUSH_ATTEMPTS, PUSH_BACKLOG, type Stream } from './push';

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

describe('handing events to the worker', () => {
  type Out = Extract<Command, { type: 'push' }>;
  const event = (id: string): Out => ({ type: 'push', event: 'message', id, data: '{}' });
  /** A worker that answers as `answers` says, one entry per command it is asked (then 'ok'). */
  function workerThat(answers: ('ok' | 'silent' | 'rejects' | 'blocked')[]) {
    const asked: string[] = [];
    const dropped: string[] = [];
    const ask = async (command: Out) => {
      asked.push(command.id!);
      const answer = answers.shift() ?? 'ok';
      // A tick between the ask and the answer, as a real worker takes.
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (answer === 'silent') throw new PurlError('no-answer');
      if (answer === 'rejects') throw new PurlError('worker-failed');
      if (answer === 'blocked') throw new PurlError('storage-blocked');
    };
    const send = createPushDelivery({ ask, onDropped: (command) => dropped.push(command.id!) });
    const settled = () => new Promise((resolve) => setTimeout(resolve, 20));
    return { send, asked, dropped, settled };
  }

  it('sends one event at a time, in order, each once when the worker answers', async () => {
    const { send, asked, dropped, settled } = workerThat([]);
    for (const id of ['ep.1', 'ep.2', 'ep.3']) send(event(id));
    expect(asked).toEqual(['ep.1']);
    await settled();
    expect(asked).toEqual(['ep.1', 'ep.2', 'ep.3']);
    expect(dropped).toEqual([]);
  });

  it('sends again an event the worker did not answer (it stopped), before the next one', async () => {
    const { send, asked, dropped, settled } = workerThat(['silent', 'ok']);
    send(event('ep.1'));
    send(event('ep.2'));
    await settled();
    expect(asked).toEqual(['ep.1', 'ep.1', 'ep.2']);
    expect(dropped).toEqual([]);
  });

  it(`gives an event up after ${PUSH_ATTEMPTS} silences, and at once when the worker refused it; the next ones still go`, async () => {
    const { send, asked, dropped, settled } = workerThat(['silent', 'silent', 'silent', 'rejects', 'blocked']);
    for (const id of ['ep.1', 'ep.2', 'ep.3', 'ep.4']) send(event(id));
    await settled();
    expect(asked).toEqual(['ep.1', 'ep.1', 'ep.1', 'ep.2', 'ep.3', 'ep.4']);
    // A worker whose database is blocked has the event and runs it later: not dropped, not sent again.
    expect(dropped).toEqual(['ep.1', 'ep.2']);
  });

  it(`keeps at most ${PUSH_BACKLOG} events waiting, letting the oldest waiting go`, async () => {
    const { send, asked, dropped, settled } = workerThat([]);
    for (let i = 0; i <= PUSH_BACKLOG; i += 1) send(event(`ep.${i}`));
    expect(dropped).toEqual(['ep.1']);
    await settled();
    await vi.waitFor(() => expect(asked).toHaveLength(PUSH_BACKLOG));
    expect(asked.slice(0, 3)).toEqual(['ep.0', 'ep.2', 'ep.3']);
  });
});
