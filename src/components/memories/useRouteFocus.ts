/**
 * Moves focus when a conversation opens or closes, so keyboard and screen-reader
 * users land where the content changed instead of on <body>.
 */
import type { RefObject } from 'preact';
import { useLayoutEffect, useRef } from 'preact/hooks';

/**
 * On open: remembers the control that opened the conversation and focuses the
 * transcript's heading. On close: focuses that control again, or the row of the room
 * just left, or the list's heading. Nothing moves on first render (a reload).
 */
export function useRouteFocus(root: RefObject<HTMLElement | null>, roomId: string | undefined): void {
  const previous = useRef(roomId);
  const opener = useRef<HTMLElement | null>(null);
  // A layout effect, so the opener is read before narrow layouts hide the list and
  // the browser moves focus off it.
  useLayoutEffect(() => {
    const left = previous.current;
    previous.current = roomId;
    const element = root.current;
    if (left === roomId || !element) return;
    if (roomId !== undefined) {
      const active = document.activeElement;
      if (active instanceof HTMLElement && element.querySelector('.memories-index')?.contains(active)) opener.current = active;
      element.querySelector<HTMLElement>('.transcript-title')?.focus();
      return;
    }
    const row = left === undefined ? null : element.querySelector<HTMLElement>(`.memories-index [data-room-id="${CSS.escape(left)}"]`);
    const target = opener.current?.isConnected ? opener.current : (row ?? element.querySelector<HTMLElement>('.memories-index-title'));
    opener.current = null;
    target?.focus();
  }, [roomId]);
}
