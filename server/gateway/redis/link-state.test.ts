import { describe, expect, it } from 'vitest';
import { closedLink, commandFailed, commandWorked, FAILURES_FOR_DOWN, initialLinkState, type LinkState, linkAnswered, linkLost } from './link-state';

const up = (at = 10): LinkState => linkAnswered(initialLinkState(0), at).next;

describe("the Redis link's state", () => {
  it('starts down, since its creation, with nothing said', () => {
    expect(initialLinkState(5)).toEqual({ state: 'down', since: 5, failures: 0, failuresInARow: 0, saidDown: false, closed: false });
  });

  it('comes up once: the first answer changes and says it, the next ones only forget failures', () => {
    const first = linkAnswered(initialLinkState(0), 10);
    expect(first).toMatchObject({ changed: true, say: { up: true }, next: { state: 'up', since: 10 } });
    const failing = commandFailed(first.next, 11).next;
    const again = linkAnswered(failing, 20);
    expect(again.changed).toBe(false);
    expect(again.say).toBeUndefined();
    expect(again.next).toMatchObject({ state: 'up', since: 10, failuresInARow: 0, failures: 1 });
  });

  it('says an outage once, however many signs of it come', () => {
    const lost = linkLost(up(), 'reconnecting', 30);
    expect(lost).toMatchObject({ changed: true, say: { up: false, why: 'reconnecting' }, next: { state: 'down', since: 30 } });
    const more = linkLost(lost.next, 'ECONNREFUSED', 40);
    expect(more).toEqual({ next: lost.next, changed: false });
    // Up again, then down: a new outage is said again.
    const back = linkAnswered(more.next, 50).next;
    expect(linkLost(back, 'the connection ended', 60).say).toEqual({ up: false, why: 'the connection ended' });
  });

  it('says a link that never came up is down once, without a change of state for the listeners', () => {
    const never = linkLost(initialLinkState(0), 'ECONNREFUSED', 5);
    expect(never).toMatchObject({ changed: false, say: { up: false, why: 'ECONNREFUSED' }, next: { state: 'down', since: 0, saidDown: true } });
    expect(linkLost(never.next, 'ECONNREFUSED', 6).say).toBeUndefined();
  });

  it(`counts every failed command, and ${FAILURES_FOR_DOWN} in a row without an answer take it down`, () => {
    let link = up();
    for (let i = 1; i < FAILURES_FOR_DOWN; i++) {
      const step = commandFailed(link, 20 + i);
      expect(step.changed).toBe(false);
      link = step.next;
    }
    // A command that works in between starts the count again.
    link = commandWorked(link);
    expect(link.failuresInARow).toBe(0);
    for (let i = 1; i < FAILURES_FOR_DOWN; i++) link = commandFailed(link, 30).next;
    const last = commandFailed(link, 40);
    expect(last).toMatchObject({ changed: true, say: { up: false, why: 'it does not answer' }, next: { state: 'down', since: 40 } });
    expect(last.next.failures).toBe(2 * FAILURES_FOR_DOWN - 1);
  });

  it('changes nothing once closed, though failures are still counted', () => {
    const closed = closedLink(up());
    expect(linkLost(closed, 'the connection ended', 50)).toEqual({ next: closed, changed: false });
    expect(linkAnswered(closedLink(initialLinkState(0)), 50).changed).toBe(false);
    let link = closed;
    for (let i = 0; i < FAILURES_FOR_DOWN; i++) link = commandFailed(link, 60).next;
    expect(link).toMatchObject({ state: 'up', failures: FAILURES_FOR_DOWN });
  });
});
