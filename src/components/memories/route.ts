/**
 * The memories browser's place in the URL hash, so a reload or the browser's Back
 * button returns to the same conversation:
 *
 *   `#/memories`                       the conversation list (also: any other hash)
 *   `#/memories/<encodeURIComponent(roomId)>`   one conversation
 */
import { useCallback, useEffect, useState } from 'preact/hooks';

/** What the hash asks the memories browser to show. */
export type MemoriesRoute = { view: 'list' } | { view: 'conversation'; roomId: string };

/** The list's hash, and the prefix of every conversation's. */
export const MEMORIES_HASH = '#/memories';

/** Longer than any room id ElizaOS makes (UUIDs); a longer hash is not ours. */
const MAX_ROOM_ID_LENGTH = 200;

const LIST: MemoriesRoute = { view: 'list' };

/** Marks history entries this module pushed, so "Back" can pop them instead of adding one. */
const PUSHED_KEY = 'purlMemoriesPushed';

/**
 * Reads a hash. Anything that is not a well-formed conversation hash is the list: a
 * bad escape, an empty or over-long id, control characters. Whether the room exists
 * is for the transcript to find out; it calls `leave` when it does not.
 */
export function parseMemoriesHash(hash: string): MemoriesRoute {
  const prefix = `${MEMORIES_HASH}/`;
  if (!hash.startsWith(prefix)) return LIST;
  let roomId: string;
  try {
    roomId = decodeURIComponent(hash.slice(prefix.length));
  } catch {
    return LIST;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is rejected
  if (roomId.trim() === '' || roomId.length > MAX_ROOM_ID_LENGTH || /[\u0000-\u001f\u007f]/.test(roomId)) return LIST;
  return { view: 'conversation', roomId };
}

/** The hash for a route; parseMemoriesHash(memoriesHash(route)) is route again. */
export function memoriesHash(route: MemoriesRoute): string {
  return route.view === 'list' ? MEMORIES_HASH : `${MEMORIES_HASH}/${encodeURIComponent(route.roomId)}`;
}

function isPushedByUs(state: unknown): boolean {
  return typeof state === 'object' && state !== null && (state as Record<string, unknown>)[PUSHED_KEY] === true;
}

/** The route and the three ways the browser changes it. */
export interface MemoriesRouter {
  /** The open conversation's room id, if any. */
  roomId: string | undefined;
  /** Opens a conversation: a new history entry from the list, a replaced one from another conversation. */
  open(roomId: string): void;
  /** Back to the list: pops the entry `open` pushed, so the browser's Back does not return to it. */
  back(): void;
  /** Back to the list without a history entry (the hash named no known conversation). */
  leave(): void;
}

/** The current route, following the hash and the browser's history buttons. */
export function useMemoriesRoute(): MemoriesRouter {
  const [route, setRoute] = useState(() => parseMemoriesHash(location.hash));
  useEffect(() => {
    const sync = () => setRoute(parseMemoriesHash(location.hash));
    // pushState does not fire hashchange, and traversal may fire either or both: listen to both.
    addEventListener('hashchange', sync);
    addEventListener('popstate', sync);
    return () => {
      removeEventListener('hashchange', sync);
      removeEventListener('popstate', sync);
    };
  }, []);

  const open = useCallback((roomId: string) => {
    const next: MemoriesRoute = { view: 'conversation', roomId };
    if (parseMemoriesHash(location.hash).view === 'conversation') history.replaceState(history.state, '', memoriesHash(next));
    else history.pushState({ [PUSHED_KEY]: true }, '', memoriesHash(next));
    setRoute(next);
  }, []);

  const leave = useCallback(() => {
    history.replaceState(null, '', MEMORIES_HASH);
    setRoute(LIST);
  }, []);

  const back = useCallback(() => {
    // popstate brings the list back; after a reload or a shared link there is nothing to pop.
    if (isPushedByUs(history.state)) history.back();
    else leave();
  }, [leave]);

  return { roomId: route.view === 'conversation' ? route.roomId : undefined, open, back, leave };
}
