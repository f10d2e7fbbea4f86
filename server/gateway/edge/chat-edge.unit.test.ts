import { describe, expect, it } from 'vitest';
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

/** A clock and timers the test moves by hand. */
function fakeTimers() {
  const clock = { at: 0 };
  const timers: { dueAt: number; callback: () => void; isCancelled: boolean }[] = [];
  return {
    clock,
    timers,
    now: () => clock.at,
    setTimer: (callback: () => void, ms: number) => {
      const timer = { dueAt: clock.at + ms, callback, isCancelled: false };
      timers.push(timer);
      return () => {
        timer.isCancelled = true;
      };
    },
    /** Moves the clock to `at`, running the timers due by then. */
    runTo(at: number) {
      for (let timer = timers.find((t) => !t.isCancelled && t.dueAt <= at); timer; timer = timers.find((t) => !t.isCancelled && t.dueAt <= at)) {
        timer.isCancelled = true;
        clock.at = timer.dueAt;
        timer.callback();
      }
      clock.at = at;
    },
  };
}

describe('the chat edge on a fake clock', () => {
  const open = () => {
    const { socket, joined, listeners } = fakeSocket();
    const timers = fakeTimers();
    const edge = createChatEdge({
      upstream: socket,
      channelOf: () => CHANNEL,
      enabled: true,
      maxBytes: 100_000,
      horizonMs: 1_000,
      now: timers.now,
      setTimer: timers.setTimer,
    });
    return { edge, joined, listeners, timers };
  };

  it('answers from a snapshot read while joined, until the horizon passes', () => {
    const { edge, timers } = open();
    edge.reading(SESSION)(200, listing);
    expect(edge.answer(SESSION, 10)).toBe('{"messages":[],"hasMore":false}');
    timers.runTo(999);
    expect(edge.answer(SESSION, 10)).toBeDefined();
    timers.runTo(1_000);
    expect(edge.answer(SESSION, 10)).toBeUndefined();
    expect(edge.stats()).toEqual({ chatReadsFromEdge: 2, chatReadsUpstream: 1 });
  });

  it('sweeps the logs of channels no longer joined every horizon, and stops sweeping once closed', () => {
    const { edge, joined, timers } = open();
    timers.runTo(900);
    edge.reading(SESSION)(200, listing);
    joined.delete(CHANNEL);
    timers.runTo(1_000);
    joined.add(CHANNEL);
    // Its log went with the sweep (its snapshot, at 900, is within the horizon): joined again, there is nothing to answer from.
    timers.runTo(1_100);
    expect(edge.answer(SESSION, 10)).toBeUndefined();
    timers.runTo(2_000);
    expect(timers.timers.filter((timer) => !timer.isCancelled)).toHaveLength(1);
    edge.close();
    expect(timers.timers.filter((timer) => !timer.isCancelled)).toHaveLength(0);
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
