import { describe, expect, it } from 'vitest';
import { isCommand, MAX_PUSH_DATA } from './messages';

describe('isCommand, for what a tab hands on from the push stream', () => {
  it('takes an event with its id and raw data, or a bare "down"', () => {
    expect(isCommand({ type: 'push', event: 'message', id: 'ep.4', data: '{}' })).toBe(true);
    expect(isCommand({ type: 'push', event: 'down' })).toBe(true);
  });

  it('refuses what no tab of Purl sends: no event, a huge one, an id that is not text', () => {
    expect(isCommand({ type: 'push' })).toBe(false);
    expect(isCommand({ type: 'push', event: 'x'.repeat(21) })).toBe(false);
    expect(isCommand({ type: 'push', event: 'message', id: 7 })).toBe(false);
    expect(isCommand({ type: 'push', event: 'message', id: 'x'.repeat(61) })).toBe(false);
    expect(isCommand({ type: 'push', event: 'message', data: 'x'.repeat(MAX_PUSH_DATA + 1) })).toBe(false);
    expect(isCommand({ type: 'push', event: 'message', data: { parsed: true } })).toBe(false);
  });
});
