/**
 * Which slice of a long list is on screen. The browser never holds more than
 * MAX_SHOWN items of one list, so a 10,000-memory cache renders as fast as a small one.
 */
import type { Memory } from '../../shared/api';
import type { MemoryPosition } from '../../shared/memory-queries';

/** How many more messages "Show earlier messages" brings. */
export const TRANSCRIPT_PAGE = 50;
/** The most items any list shows at once. */
export const MAX_SHOWN = 200;
/** Conversations and search results per page. */
export const LIST_PAGE = 50;

/** The transcript's window: the `limit` messages just before `before` (or the newest). */
export interface TranscriptWindow {
  limit: number;
  before?: MemoryPosition;
}

/** A new conversation opens on its newest page, following new messages as they arrive. */
export const LATEST_WINDOW: TranscriptWindow = { limit: TRANSCRIPT_PAGE };

/**
 * One step back in time from `shown` (the window's messages, oldest first). The window
 * grows to MAX_SHOWN, then slides: the newest TRANSCRIPT_PAGE messages make room for as many
 * older ones, so the messages the reader was at stay on screen.
 */
export function earlierWindow(current: TranscriptWindow, shown: readonly Memory[]): TranscriptWindow {
  if (current.limit + TRANSCRIPT_PAGE <= MAX_SHOWN) return { ...current, limit: current.limit + TRANSCRIPT_PAGE };
  const anchor = shown[shown.length - TRANSCRIPT_PAGE];
  return anchor ? { limit: current.limit, before: { createdAt: anchor.createdAt, id: anchor.id } } : current;
}

/** The first item of the page holding `offset`, once `total` may have shrunk under it. */
export function clampOffset(offset: number, total: number, pageSize: number): number {
  const lastPage = Math.max(0, Math.ceil(total / pageSize) - 1) * pageSize;
  return Math.min(Math.max(0, offset), lastPage);
}
