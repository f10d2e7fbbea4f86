/**
 * The one adapter between components and data: read IndexedDB, re-read when the
 * worker says the stores read from changed.
 */
import { useEffect, useState } from 'preact/hooks';
import { getMeta, type PurlDatabase } from '../shared/db';
import type { MetricsSnapshot } from '../shared/network';
import type { StoreName } from '../shared/messages';
import { databaseWait, getDb, onlineState, storageFull, workerEvents } from './sources';

type Store = StoreName;

export interface QueryState<T> {
  data: T | undefined;
  /** A sentence when the local database could not be read. */
  error: string | undefined;
}

export function useDbQuery<T>(read: (db: PurlDatabase) => Promise<T>, stores: readonly Store[], deps: readonly unknown[]): QueryState<T> {
  const [state, setState] = useState<QueryState<T>>({ data: undefined, error: undefined });
  useEffect(() => {
    let cancelled = false;
    let generation = 0;
    const run = async () => {
      const mine = ++generation;
      try {
        const data = await read(await getDb());
        if (!cancelled && mine === generation) setState({ data, error: undefined });
      } catch {
        if (!cancelled && mine === generation) {
          setState((old) => ({ data: old.data, error: "Purl couldn't read its saved data in this browser." }));
        }
      }
    };
    void run();
    const unsubscribe = workerEvents.subscribe((event) => {
      if (event.type === 'data-changed' && event.stores.some((store) => stores.includes(store))) void run();
    });
    return () => {
      cancelled = true;
      unsubscribe();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the caller lists what `read` depends on
  }, deps);
  return state;
}

export function useOnline(): boolean {
  const [online, setOnline] = useState(() => navigator.onLine);
  useEffect(() => onlineState.subscribe(setOnline), []);
  return online;
}

/** The worker's latest monitor figures: from IndexedDB at first, then from its broadcasts. */
export function useMetrics(): MetricsSnapshot | undefined {
  const [snapshot, setSnapshot] = useState<MetricsSnapshot | undefined>(undefined);
  useEffect(() => {
    let cancelled = false;
    void getDb()
      .then((db) => getMeta(db, 'metrics'))
      .then((stored) => {
        if (!cancelled && stored) setSnapshot((current) => current ?? stored);
      })
      .catch(() => {
        // No saved figures yet: the next broadcast brings them.
      });
    const unsubscribe = workerEvents.subscribe((event) => {
      if (event.type === 'metrics') setSnapshot(event.snapshot);
    });
    return () => {
      cancelled = true;
      unsubscribe();
    };
  }, []);
  return snapshot;
}

/** The current time, updated every second while `active` (for countdowns). */
export function useNow(active: boolean): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(Date.now()), 1_000);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

/** The sentence for a page waiting to open its saved data. */
export const DATABASE_WAIT_SENTENCE =
  'Purl is waiting to open the data it saved in this browser. If another Purl tab is open (an older version, perhaps), close or reload it; Purl carries on by itself.';
/** The sentence for a browser with no room left for Purl. */
export const STORAGE_FULL_SENTENCE =
  "This browser has no room left for Purl's data. Purl shows what it saved, but can't save new memories or messages until there is space again; what you type is kept and sent then.";

/** What the page must say about its own storage (waiting to open it, or full), or undefined. */
export function useStorageProblem(): string | undefined {
  const [isWaiting, setWaiting] = useState(false);
  const [isFull, setFull] = useState(false);
  useEffect(() => databaseWait.subscribe(setWaiting), []);
  useEffect(() => storageFull.subscribe(setFull), []);
  if (isWaiting) return DATABASE_WAIT_SENTENCE;
  return isFull ? STORAGE_FULL_SENTENCE : undefined;
}
