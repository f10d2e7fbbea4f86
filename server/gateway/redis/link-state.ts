/**
 * The Redis link's state (redis.ts) as data and functions over it: whether the link is up,
 * since when, the commands that failed, and whether the log has said the current outage.
 * Each function returns the next state and what changed, so the link only applies it
 * (says the line, tells its listeners); nothing here reads a clock or touches a socket.
 */
export type RedisState = 'up' | 'down';

/** Failed commands in a row that make the link count as down (a Redis that accepts but does not answer). */
export const FAILURES_FOR_DOWN = 3;

export interface LinkState {
  readonly state: RedisState;
  /** Epoch ms of the last change of state (the link's creation before any). */
  readonly since: number;
  /** Commands that failed in all (each one a fallback to local state). */
  readonly failures: number;
  /** Failed commands since the last one that worked. */
  readonly failuresInARow: number;
  /** Whether the log has said the link is down since it was last up (said once an outage). */
  readonly saidDown: boolean;
  /** Closed: nothing changes any more. */
  readonly closed: boolean;
}

/** What a step changed: the state (tell the listeners) and what to say in the log. */
export interface LinkStep {
  readonly next: LinkState;
  readonly changed: boolean;
  /** 'up', or the reason the link is down; undefined when nothing is to be said. */
  readonly say?: { up: true } | { up: false; why: string };
}

export function initialLinkState(now: number): LinkState {
  return { state: 'down', since: now, failures: 0, failuresInARow: 0, saidDown: false, closed: false };
}

const unchanged = (next: LinkState): LinkStep => ({ next, changed: false });

/** The link became ready or answered a PING: up, and the failures in a row forgotten. */
export function linkAnswered(current: LinkState, now: number): LinkStep {
  if (current.closed) return unchanged(current);
  const answered = { ...current, failuresInARow: 0 };
  if (current.state === 'up') return unchanged(answered);
  return { next: { ...answered, state: 'up', since: now, saidDown: false }, changed: true, say: { up: true } };
}

/** A command worked: the failures in a row are forgotten, and nothing else changes. */
export function commandWorked(current: LinkState): LinkState {
  return current.failuresInARow === 0 ? current : { ...current, failuresInARow: 0 };
}

/** The connection ended, is reconnecting or failed (`why`): down, said once an outage. */
export function linkLost(current: LinkState, why: string, now: number): LinkStep {
  if (current.closed) return unchanged(current);
  if (current.state === 'down') {
    if (current.saidDown) return unchanged(current);
    return { next: { ...current, saidDown: true }, changed: false, say: { up: false, why } };
  }
  return { next: { ...current, state: 'down', since: now, saidDown: true }, changed: true, say: { up: false, why } };
}

/** A command of a user of the link failed: counted; FAILURES_FOR_DOWN in a row and the link is down. */
export function commandFailed(current: LinkState, now: number): LinkStep {
  const counted = { ...current, failures: current.failures + 1, failuresInARow: current.failuresInARow + 1 };
  if (counted.failuresInARow < FAILURES_FOR_DOWN) return unchanged(counted);
  return linkLost(counted, 'it does not answer', now);
}

export function closedLink(current: LinkState): LinkState {
  return { ...current, closed: true };
}
