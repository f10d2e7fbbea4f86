/**
 * The push route's wiring with this gateway's own log, on fakes: an upstream socket driven
 * by hand, responses that keep what is written, and a clock the test moves.
 */
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../../../src/shared/clock';
import { TEST_PUSH_KEY } from '../test-kit';
import { createPush, type PushOptions } from './push';
import { FakeResponse, FakeUpstream, pushedMessage } from './push-fakes';
import type { PushQuery } from './push-query';
import { mintPushToken } from './push-token';

const EPOCH = '0123456789ab';
const A = 'c0c0c0c0-0000-4000-8000-00000000000a';
const B = 'c0c0c0c0-0000-4000-8000-00000000000b';
const SESSION_A = 'a0a0a0a0-0000-4000-8000-00000000000a';
const SESSION_B = 'a0a0a0a0-0000-4000-8000-00000000000b';
const REQ = { destroyed: false } as IncomingMessage;

const query = (channels: string[], lastEventId?: string): PushQuery => ({
  sessions: channels.map((channelId) => {
    const sessionId = channelId === A ? SESSION_A : SESSION_B;
    return { sessionId, channelId, token: mintPushToken(TEST_PUSH_KEY, sessionId, channelId) };
  }),
  ...(lastEventId ? { lastEventId } : {}),
});

function route(options: Partial<PushOptions> = {}) {
  const upstream = new FakeUpstream();
  const clock = manualClock(1_000_000);
  const push = createPush({ key: TEST_PUSH_KEY, upstream, maxStreamsPerClient: 2, epoch: EPOCH, clock, ...options });
  const open = (channels: string[], lastEventId?: string, client = '127.0.0.1') => {
    const res = new FakeResponse();
    push.serve(REQ, res.asResponse(), query(channels, lastEventId), client);
    return res;
  };
  return { upstream, clock, push, open };
}

const kinds = (res: FakeResponse) => res.events().map((event) => [event.event, event.id]);

describe('the push route on its own log', () => {
  it('opens with the head, retry and hello at the current position, and listens to the stream’s channels until it closes', () => {
    const { upstream, open } = route();
    const res = open([A, B]);
    expect(res.status).toBe(200);
    expect(res.headers['Content-Type']).toBe('text/event-stream; charset=utf-8');
    expect(res.events()).toEqual([{ id: `${EPOCH}.0`, event: 'hello', data: `{"epoch":"${EPOCH}","upstream":"up"}`, retry: 1000 }]);
    expect([...upstream.subscriptions]).toEqual([
      [A, 1],
      [B, 1],
    ]);
    res.close();
    expect([...upstream.subscriptions.values()]).toEqual([0, 0]);
  });

  it('writes each message of a joined channel to its streams under their sessions, with this gateway’s ids', () => {
    const { upstream, push, open } = route();
    const both = open([A, B]);
    const onlyB = open([B]);
    upstream.join(A);
    upstream.join(B);
    const message = pushedMessage();
    upstream.say(A, message);
    upstream.say(B, pushedMessage());
    // A channel never joined: nothing kept, nothing written.
    upstream.say('c0c0c0c0-0000-4000-8000-00000000000f', pushedMessage());
    expect(kinds(both)).toEqual([
      ['hello', `${EPOCH}.0`],
      ['message', `${EPOCH}.1`],
      ['message', `${EPOCH}.2`],
    ]);
    expect(JSON.parse(both.events()[1]!.data)).toEqual({ sessionId: SESSION_A, message });
    expect(kinds(onlyB)).toEqual([
      ['hello', `${EPOCH}.0`],
      ['message', `${EPOCH}.2`],
    ]);
    expect(push.stats()).toMatchObject({ streams: 2, eventsIn: 2, eventsOut: 3 });
  });

  it('replays what a returning browser missed after its hello, and resets the sessions it cannot replay', () => {
    const { upstream, push, open } = route();
    const first = open([A]);
    upstream.join(A);
    for (let i = 0; i < 3; i++) upstream.say(A, pushedMessage());
    first.close();
    const back = open([A, B], `${EPOCH}.1`);
    expect(kinds(back)).toEqual([
      ['hello', `${EPOCH}.3`],
      ['reset', undefined],
      ['message', `${EPOCH}.2`],
      ['message', `${EPOCH}.3`],
    ]);
    expect(JSON.parse(back.events()[1]!.data)).toEqual({ sessionIds: [SESSION_B] });
    expect(push.stats()).toMatchObject({ replayed: 1, resets: 1, eventsOut: 5 });
  });

  it('tells the streams of a channel joined again (after a reconnect) to read it once', () => {
    const { upstream, open } = route();
    const res = open([A]);
    upstream.join(A);
    upstream.setState('down');
    upstream.setState('up');
    upstream.join(A);
    expect(res.events().map((event) => [event.event, event.data])).toEqual([
      ['hello', `{"epoch":"${EPOCH}","upstream":"up"}`],
      ['upstream', '{"state":"down"}'],
      ['upstream', '{"state":"up"}'],
      ['reset', `{"sessionIds":["${SESSION_A}"]}`],
    ]);
  });

  it('beats a keep-alive comment every keepAliveMs while a stream is open, and no timer once the last one closed', () => {
    const { clock, open } = route({ keepAliveMs: 15_000 });
    const res = open([A]);
    clock.advance(14_999);
    expect(res.events().map((event) => event.event)).toEqual(['hello']);
    clock.advance(1);
    clock.advance(15_000);
    expect(res.events().map((event) => event.event)).toEqual(['hello', ':', ':']);
    expect(res.events()[1]!.data).toBe('keep-alive');
    res.close();
    expect(clock.pending()).toBe(0);
  });

  it('forgets events past the replay window on the keep-alive’s beat, by the clock it is given', () => {
    const { upstream, clock, open } = route({ keepAliveMs: 1_000, keepMs: 5_000 });
    const res = open([A]);
    upstream.join(A);
    upstream.say(A, pushedMessage());
    res.close();
    const keeper = open([B]);
    clock.advance(6_000);
    expect(kinds(open([A], `${EPOCH}.0`))).toEqual([
      ['hello', `${EPOCH}.1`],
      ['reset', undefined],
    ]);
    keeper.close();
  });

  it('tells every stream that an agent’s memories changed', () => {
    const { push, open } = route();
    const [one, other] = [open([A]), open([B])];
    push.memoriesChanged('2a6e1e0c-4b7f-4c55-9c1a-1f0e0a7b3c11', `${EPOCH}.4`);
    for (const res of [one, other])
      expect(res.events()[1]).toEqual({ event: 'memories', data: `{"agentId":"2a6e1e0c-4b7f-4c55-9c1a-1f0e0a7b3c11","cursor":"${EPOCH}.4"}` });
    expect(push.stats().memoriesOut).toBe(2);
  });

  it('refuses a wrong token with 403 and a client over its streams with 429, listening to nothing for them', () => {
    const { upstream, push, open } = route();
    const forged = new FakeResponse();
    push.serve(REQ, forged.asResponse(), { sessions: [{ sessionId: SESSION_A, channelId: A, token: 'A'.repeat(43) }] }, '127.0.0.1');
    expect(forged.status).toBe(403);
    open([A]);
    open([A]);
    const third = open([A]);
    expect([third.status, third.headers['Retry-After']]).toEqual([429, '10']);
    expect(open([A], undefined, '127.0.0.2').status).toBe(200);
    expect(upstream.subscriptions.get(A)).toBe(3);
  });

  it('ends every stream, its timers and the upstream socket on close', () => {
    const { upstream, clock, push, open } = route();
    const res = open([A]);
    push.close();
    expect([res.ended, upstream.closed, clock.pending()]).toEqual([true, true, 0]);
  });
});
