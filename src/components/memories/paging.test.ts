import { describe, expect, it } from 'vitest';
import type { Memory } from '../../shared/api';
import { LATEST_WINDOW, MAX_SHOWN, TRANSCRIPT_PAGE, clampOffset, earlierWindow } from './paging';

function messages(count: number): Memory[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `m${i}`,
    agentId: 'a',
    roomId: 'r',
    entityId: 'u',
    createdAt: i,
    text: '',
    isAgent: false,
  }));
}

describe('the transcript window', () => {
  it('grows by a page at a time up to the most shown at once', () => {
    let window = LATEST_WINDOW;
    while (window.limit + TRANSCRIPT_PAGE <= MAX_SHOWN) {
      const next = earlierWindow(window, messages(window.limit));
      expect(next).toEqual({ limit: window.limit + TRANSCRIPT_PAGE });
      window = next;
    }
    expect(window.limit).toBe(MAX_SHOWN);
  });

  it('then slides back, keeping the older messages on screen and dropping the newest page', () => {
    const shown = messages(MAX_SHOWN);
    const next = earlierWindow({ limit: MAX_SHOWN }, shown);
    const anchor = shown[MAX_SHOWN - TRANSCRIPT_PAGE]!;
    expect(next).toEqual({ limit: MAX_SHOWN, before: { createdAt: anchor.createdAt, id: anchor.id } });
  });
});

describe('clampOffset', () => {
  it('keeps an offset that still has items and pulls back one past the end', () => {
    expect(clampOffset(50, 120, 50)).toBe(50);
    expect(clampOffset(100, 90, 50)).toBe(50);
    expect(clampOffset(100, 0, 50)).toBe(0);
    expect(clampOffset(-5, 10, 50)).toBe(0);
  });
});
