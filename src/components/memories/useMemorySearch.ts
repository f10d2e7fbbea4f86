/**
 * The search box's state and its query: the text as typed, the text searched (after a
 * pause in typing), the author filter and the page.
 */
import { useEffect, useState } from 'preact/hooks';
import { useDbQuery } from '../../data/hooks';
import type { Memory } from '../../shared/api';
import { searchMemories, type AuthorFilter } from '../../shared/memory-queries';
import { LIST_PAGE } from './paging';

/** Each search reads every cached memory: wait for a pause in typing, not every key. */
const TYPING_PAUSE_MS = 200;

/** A finished search, with what it searched for, so stale results never get a fresh sentence. */
export interface SearchOutcome {
  key: string;
  text: string;
  author: AuthorFilter;
  offset: number;
  results: Memory[];
  total: number;
}

/** The search's state, for SearchForm and SearchResults. */
export interface MemorySearch {
  /** The field's value, as typed. */
  text: string;
  setText: (text: string) => void;
  author: AuthorFilter;
  setAuthor: (author: AuthorFilter) => void;
  /** True when results, not the conversation list, should show: there is text or an author filter. */
  isActive: boolean;
  outcome: SearchOutcome | undefined;
  /** True while the shown outcome is not for the current text, author and page. */
  isPending: boolean;
  setOffset: (offset: number) => void;
  error: string | undefined;
}

function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

/** Searches the agent's saved memories; re-runs when the worker saves new ones. */
export function useMemorySearch(agentId: string): MemorySearch {
  const [text, setText] = useState('');
  const [author, setAuthor] = useState<AuthorFilter>('all');
  const settled = useDebounced(text, TYPING_PAUSE_MS);
  // Clearing the field shows the list at once; only typing waits.
  const query = text.trim() === '' ? '' : settled.trim();
  const isActive = query !== '' || author !== 'all';
  const key = JSON.stringify([agentId, query, author]);
  const [page, setPage] = useState({ key, offset: 0 });
  // A new search starts on its first page.
  const offset = page.key === key ? page.offset : 0;

  const state = useDbQuery(
    async (db): Promise<SearchOutcome | undefined> => {
      if (!isActive) return undefined;
      const found = await searchMemories(db, agentId, { text: query, author }, { limit: LIST_PAGE, offset });
      return { key, text: query, author, offset, ...found };
    },
    ['memories'],
    [key, offset, isActive],
  );
  const outcome = isActive ? state.data : undefined;
  const isPending = isActive && (outcome?.key !== key || outcome.offset !== offset);
  return {
    text,
    setText,
    author,
    setAuthor,
    isActive,
    outcome,
    isPending,
    setOffset: (next) => setPage({ key, offset: next }),
    error: state.error,
  };
}
