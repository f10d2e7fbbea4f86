import { describe, expect, it } from 'vitest';
import { manualClock } from '../../../src/shared/clock';
import type { UpstreamSocket } from '../upstream/upstream-socket';
import { createChatEdge } from './chat-edge';

const SESSION = 'b3c2a1d0-0000-4000-8000-00000000000a';
const CHANNEL = 'c0c0c0c0-0000-4000-8000-0000000000c1';
const listing = { messages: [], hasMore: false };

/** The socket's side as the chat edge uses it: joined channels and the events, driven by the test. */
function fakeSocket() {
  const joined = new Set([CHANNEL]);
  const listeners = { joined: [] as ((channelId: string) => void)[] };
  const socket = {
    isJoined: (channelId: string) => joined.has(channelId),
    onMessage: () => () => undefined,
    onJoined: (listener: (channelId: string) => void) => {
      listeners.joined.push(listener);
      return () => undefined;
    },
    onState: () => () => undefined,
    onRemoved: () => () => undefined,
  } as unknown as UpstreamSocket;
  return { socket, joined, listeners };
}

describe('the chat edge on a fake clock', () => {
  const open = () => {
    const { socket, joined, listeners } = fakeSocket();
    const clock = manualClock();
    const edge = createChatEdge({
      upstream: socket,
      channelOf: () => CHANNEL,
      enabled: true,
      maxBytes: 100_000,
      horizonMs: 1_000,
      now: clock.now,
      setTimer: clock.setTimer,
    });
    return { edge, joined, listeners, clock };
  };

  it('answers from a snapshot read while joined, until the horizon passes', () => {
    const { edge, clock } = open();
    edge.reading(SESSION)(200, listing);
    expect(edge.answer(SESSION, 10)).toBe('{"messages":[],"hasMore":false}');
    clock.advance(999 - clock.now());
    expect(edge.answer(SESSION, 10)).toBeDefined();
    clock.advance(1_000 - clock.now());
    expect(edge.answer(SESSION, 10)).toBeUndefined();
    expect(edge.stats()).toEqual({ chatReadsFromEdge: 2, chatReadsUpstream: 1 });
  });

  it('sweeps the logs of channels no longer joined every horizon, and stops sweeping once closed', () => {
    const { edge, joined, clock } = open();
    clock.advance(900 - clock.now());
    edge.reading(SESSION)(200, listing);
    joined.delete(CHANNEL);
    clock.advance(1_000 - clock.now());
    joined.add(CHANNEL);
    // Its log went with the sweep (its snapshot, at 900, is within the horizon): joined again, there is nothing to answer from.
    clock.advance(1_100 - clock.now());
    expect(edge.answer(SESSION, 10)).toBeUndefined();
    clock.advance(2_000 - clock.now());
    expect(clock.pending()).toBe(1);
    edge.close();
    expect(clock.pending()).toBe(0);
  });

  it('answers nothing heard before a re-join', () => {
    const { edge, listeners } = open();
    edge.reading(SESSION)(200, listing);
    for (const listener of listeners.joined) listener(CHANNEL);
    expect(edge.answer(SESSION, 10)).toBeUndefined();
  });

  it('answers nothing while a REST post is under way, nor after one whose answer it did not see', () => {
    const { edge } = open();
    edge.reading(SESSION)(200, listing);
    const post = edge.posting(SESSION);
    expect(edge.answer(SESSION, 10)).toBeUndefined();
    post.ended();
    post.ended();
    expect(edge.answer(SESSION, 10)).toBeUndefined();
  });
});
