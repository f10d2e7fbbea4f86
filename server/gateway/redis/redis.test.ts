import { describe, expect, it } from 'vitest';
import { reconnectDelayMs, shownRedisUrl } from './redis';

describe('the Redis link', () => {
  it('shows where Redis is without its user name or password', () => {
    expect(shownRedisUrl(new URL('redis://purl:s3cret@10.0.0.5:6380/2'))).toBe('redis://10.0.0.5:6380/2');
    expect(shownRedisUrl(new URL('rediss://:s3cret@cache.example'))).toBe('rediss://cache.example');
  });

  it('reconnects after 100 ms, doubling, at most every 5 s', () => {
    expect([0, 1, 2, 3, 5, 6, 20].map(reconnectDelayMs)).toEqual([100, 200, 400, 800, 3_200, 5_000, 5_000]);
  });
});
