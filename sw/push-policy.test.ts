import { describe, expect, it } from 'vitest';
import type { ChatMessage, ChatSession } from '../src/shared/api';
import type { PollKind, PushView } from '../src/shared/network';
import { chatPollMs, createPushPolicy, PUSH_SAFETY_NET_MS, type PushPolicyOptions, withPush } from './push-policy';
import { scheduleDefaults, type ScheduleOptions } from './schedule';

const AGENT = '40608b6b-63b6-0e2c-b819-9d9850d060ec';
const SESSION: ChatSession = { sessionId: 's1', channelId: 'c1', agentId: AGENT, userId: 'u1' };
const view = (state: PushView['state'], events = 0): PushView => ({ state, since: 0, events });

/** A policy over fakes that log what they are asked, on a clock the test moves. */
function harness(
  overrides: Partial<PushPolicyOptions> = {},
  state: { up?: boolean; session?: ChatSession | undefined; behind?: boolean; failing?: number } = {},
) {
  const clock = { now: 1_000_000 };
  const log: string[] = [];
  const received: ChatMessage[][] = [];
  const views: PushView[] = [];
  const tracked: Promise<unknown>[] = [];
  const session = 'session' in state ? state.session : SESSION;
  const options: PushPolicyOptions = {
    now: () => clock.now,
    isUp: () => state.up ?? false,
    baseMs: (kind: PollKind) => (kind === 'chat' ? 5_000 : 60_000),
    chat: {
      session: async () => session,
      hasSession: async () => session !== undefined,
      receive: async (messages) => {
        received.push([...messages]);
        return 'changed';
      },
    },
    pollChat: { replyArrived: async () => void log.push('reply arrived') },
    replyWatch: { sent: () => clock.now + 1_000 },
    poller: { expedite: async (kind, at, baseMs) => void log.push(`expedite ${kind} at +${at - clock.now} base ${baseMs}`) },
    sync: { isBehind: async () => state.behind ?? false },
    expireSync: async (agentId) => void log.push(`expire ${agentId === AGENT ? 'agent' : agentId}`),
    gate: {
      failingSince: () => state.failing,
      serverBack: (at) => void log.push(`server back at +${at - clock.now}`),
    },
    catchUp: async () => void log.push('catch up'),
    onView: (seen) => void views.push(seen),
    onCadence: () => void log.push('cadence'),
    requestRound: () => void log.push('round'),
    track: (promise) => void tracked.push(promise),
    ...overrides,
  };
  const policy = createPushPolicy(options);
  const settled = () => Promise.all(tracked);
  return { policy, clock, log, received, views, settled };
}

describe('the chat poll’s cadence with push', () => {
  it('is a minute’s safety net while push is up, and the configured interval otherwise', () => {
    expect(chatPollMs(true, 5_000)).toBe(PUSH_SAFETY_NET_MS);
    expect(chatPollMs(false, 5_000)).toBe(5_000);
    // A configured interval longer than the safety net stays.
    expect(chatPollMs(true, 90_000)).toBe(90_000);
  });

  it('does not stretch the safety net when nothing changes, and backs off from the configured interval once it fails', () => {
    const options: ScheduleOptions = { ...scheduleDefaults, baseMs: PUSH_SAFETY_NET_MS, random: () => 0.5 };
    expect(withPush('chat', options, true, 5_000)).toEqual({ ...options, unchangedStep: 1, maxStretch: 1, errorBaseMs: 5_000 });
    expect(withPush('chat', options, false, 5_000)).toBe(options);
    expect(withPush('memories', options, true, 5_000)).toBe(options);
  });
});

describe('what push events do', () => {
  const pushed = { id: 'r1', authorId: AGENT, isAgent: true, content: 'Reply', createdAt: 5, metadata: {} };

  it('stores a pushed message of the open session as a polled one, and takes back what the banner said of a failed poll', async () => {
    const { policy, received, log } = harness();
    await policy.listener.message('s1', pushed);
    expect(received).toEqual([[expect.objectContaining({ id: 'r1', text: 'Reply', isAgent: true, channelId: 'c1', agentId: AGENT })]]);
    expect(log).toEqual(['reply arrived']);
  });

  it('leaves a message of another session, or with no session open, alone', async () => {
    const other = harness();
    await other.policy.listener.message('another-session', pushed);
    const none = harness({}, { session: undefined });
    await none.policy.listener.message('s1', pushed);
    expect([...other.received, ...none.received, ...other.log, ...none.log]).toEqual([]);
  });

  it('refuses a message that does not parse with its session, and stores nothing', async () => {
    const { policy, received, log } = harness();
    await expect(policy.listener.message('s1', { id: 42 })).rejects.toThrow(/id/);
    expect(received).toEqual([]);
    expect(log).toEqual([]);
  });

  it('reads the chat at once after a reset naming the open session, and not after one naming others', async () => {
    const { policy, log } = harness();
    await policy.listener.reset(['s9']);
    expect(log).toEqual([]);
    await policy.listener.reset(['s9', 's1']);
    expect(log).toEqual(['expedite chat at +0 base 5000', 'round']);
  });

  it('makes the memories poll due now, its last sync forgotten, when the gateway stands past the stored cursor', async () => {
    const behind = harness({}, { behind: true });
    await behind.policy.listener.memoriesChanged(AGENT, '0000000000aa.7');
    expect(behind.log).toEqual(['expire agent', 'expedite memories at +0 base 60000', 'round']);
    const current = harness({}, { behind: false });
    await current.policy.listener.memoriesChanged(AGENT, '0000000000aa.5');
    expect(current.log).toEqual([]);
  });
});

describe('push coming up and going down', () => {
  it('counts every event on the monitor, and reports the cadence only when the state changes', async () => {
    const { policy, log, views } = harness();
    policy.listener.onChange(view('down', 1), view('down', 0));
    expect(views).toEqual([view('down', 1)]);
    expect(log).toEqual([]);
    policy.listener.onChange(view('upstream-down', 2), view('down', 1));
    expect(views).toHaveLength(2);
    expect(log).toEqual(['cadence']);
  });

  it('tells a failing gate the server is back and catches up, the moment push comes up', async () => {
    const { policy, log, settled } = harness({}, { failing: 1 });
    policy.listener.onChange(view('up', 1), view('down'));
    await settled();
    expect(log).toEqual(['cadence', 'server back at +0', 'catch up']);
  });

  it('only catches up when push comes up while nothing was failing', async () => {
    const { policy, log, settled } = harness();
    policy.listener.onChange(view('up', 1), view('upstream-down'));
    await settled();
    expect(log).toEqual(['cadence', 'catch up']);
  });

  it('brings the chat poll’s own cadence back when push goes down: due one base interval on, not after the safety net', async () => {
    const { policy, log, settled, clock } = harness();
    clock.now += 30_000;
    policy.listener.onChange(view('down', 3), view('up', 3));
    await settled();
    expect(log).toEqual(['cadence', 'expedite chat at +5000 base 5000', 'round']);
  });

  it('with no chat open, only asks for a round when push goes down', async () => {
    const { policy, log, settled } = harness({}, { session: undefined });
    policy.listener.onChange(view('upstream-down', 3), view('up', 3));
    await settled();
    expect(log).toEqual(['cadence', 'round']);
  });

  it('neither catches up nor expedites between two states that are not up', async () => {
    const { policy, log, settled } = harness();
    policy.listener.onChange(view('down', 3), view('upstream-down', 3));
    await settled();
    expect(log).toEqual(['cadence']);
  });
});

describe('a sent message', () => {
  it('brings the chat poll forward by the reply watch’s time without push', async () => {
    const { policy, log } = harness({}, { up: false });
    await policy.messageSent();
    expect(log).toEqual(['expedite chat at +1000 base 5000']);
  });

  it('brings no poll forward while push is up: the reply comes as it is made', async () => {
    const { policy, log } = harness({}, { up: true });
    await policy.messageSent();
    expect(log).toEqual([]);
  });
});
