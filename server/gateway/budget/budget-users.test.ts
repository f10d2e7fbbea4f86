import { describe, expect, it } from 'vitest';
import { ACTIVE_USER_MS, activeUsers, MAX_TRACKED_USERS, type RecentUsers, sawUser } from './budget-users';

describe('the users spending the budget', () => {
  it('counts each client once, and the one about to spend as well', () => {
    const seen: RecentUsers = new Map();
    sawUser(seen, 'a', 0);
    sawUser(seen, 'a', 1);
    sawUser(seen, 'b', 2);
    expect(activeUsers(seen, 3)).toBe(2);
    expect(activeUsers(seen, 3, 'a')).toBe(2);
    expect(activeUsers(seen, 3, 'c')).toBe(3);
  });

  it('forgets a client ACTIVE_USER_MS after it was last seen, and keeps one seen again', () => {
    const seen: RecentUsers = new Map();
    sawUser(seen, 'a', 0);
    sawUser(seen, 'b', 0);
    sawUser(seen, 'a', 60_000);
    expect(activeUsers(seen, ACTIVE_USER_MS)).toBe(1);
    expect([...seen.keys()]).toEqual(['a']);
    expect(activeUsers(seen, 60_000 + ACTIVE_USER_MS)).toBe(0);
  });

  it('remembers at most MAX_TRACKED_USERS, forgetting the least recently seen', () => {
    const seen: RecentUsers = new Map();
    for (let i = 0; i <= MAX_TRACKED_USERS; i += 1) sawUser(seen, `c${i}`, i);
    expect(seen.size).toBe(MAX_TRACKED_USERS);
    expect(seen.has('c0')).toBe(false);
    expect(seen.has(`c${MAX_TRACKED_USERS}`)).toBe(true);
  });
});
