/**
 * When to tell browsers that an agent's memories changed (docs/push.md, the `memories`
 * event): at most once per agent per window. The first change after a quiet window is told
 * at once; changes that come within the window after it are told once, at the window's
 * end, with the newest cursor (a browser needs only where the sync stands, not each step).
 */
import type { Clock } from '../../../src/shared/clock';
import { unrefClock } from '../clock';

/** The shortest window (the gateway's is max(GATEWAY_CACHE_TTL, this)): with no edge window, browsers are still not told more often than this. */
export const MIN_NOTICE_WINDOW_MS = 2_000;

export interface MemoriesNoticeOptions {
  /** The least time between two notices for one agent, ms (> 0). */
  windowMs: number;
  /** Tells every browser that `agentId`'s memories changed and the sync stands at `cursor`. */
  send(agentId: string, cursor: string): void;
  now?: () => number;
  /** Sets the timer that tells a notice at its window's end (default: setTimeout, unref'd: it keeps no process alive). */
  setTimer?: Clock['setTimer'];
}

export interface MemoriesNotice {
  /** The sync route's log of `agentId` advanced to `cursor`. */
  changed(agentId: string, cursor: string): void;
  /** Drops the notices waiting for their window's end. */
  close(): void;
}

interface AgentNotice {
  sentAt: number;
  /** The newest cursor not told yet, with the timer that tells it. */
  pending?: { cursor: string; cancel: () => void };
}

export function createMemoriesNotice(options: MemoriesNoticeOptions): MemoriesNotice {
  if (!(options.windowMs > 0)) throw new RangeError(`The memories notice window must be more than 0 ms; got ${options.windowMs}.`);
  const now = options.now ?? unrefClock.now;
  const setTimer = options.setTimer ?? unrefClock.setTimer;
  /** One entry per agent that changed (the agents on the server: a few). */
  const agents = new Map<string, AgentNotice>();

  function send(agentId: string, notice: AgentNotice, cursor: string): void {
    notice.sentAt = now();
    options.send(agentId, cursor);
  }

  return {
    changed(agentId, cursor) {
      const notice = agents.get(agentId);
      const at = now();
      if (!notice) {
        const fresh: AgentNotice = { sentAt: at };
        agents.set(agentId, fresh);
        send(agentId, fresh, cursor);
        return;
      }
      if (notice.pending) {
        notice.pending.cursor = cursor;
        return;
      }
      const waitMs = notice.sentAt + options.windowMs - at;
      if (waitMs <= 0) {
        send(agentId, notice, cursor);
        return;
      }
      // A notice waiting for its window keeps no process alive (close() drops it on shutdown).
      const cancel = setTimer(() => {
        const newest = notice.pending?.cursor ?? cursor;
        notice.pending = undefined;
        send(agentId, notice, newest);
      }, waitMs);
      notice.pending = { cursor, cancel };
    },
    close() {
      for (const notice of agents.values()) notice.pending?.cancel();
      agents.clear();
    },
  };
}
