/**
 * What the edge keeps (server/gateway/edge/edge.ts): the last good answer of each shared read,
 * by its canonical path, bounded in bytes (least recently used out first), and the pure rules
 * over one kept answer: its validator, and whether it is still within a window.
 */
import { createHash } from 'node:crypto';

/** A good answer the edge keeps: checked, `secrets` dropped, the same bytes for everyone. */
export interface KeptAnswer {
  body: Buffer;
  etag: string;
  /** The upstream's own validator for it, for a conditional refresh. */
  upstreamEtag?: string;
  headers: [string, string | string[]][];
  storedAt: number;
}

/** A strong validator for exactly these bytes. */
export const etagOf = (body: Buffer): string => `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;

/** Whether `entry`, read at `storedAt`, is younger than `windowMs` at `at` (an entry from the future is not: the clock went back). */
export function isWithin(entry: { storedAt: number }, at: number, windowMs: number): boolean {
  const age = at - entry.storedAt;
  return age >= 0 && age < windowMs;
}

/**
 * Whether a kept answer may be served at `at`: `fresh` within the window `ttlMs`; past it,
 * `stale-budget` while it is within `stretchedMs()` (the window stretched as the upstream's
 * budget falls, infinite in its reserve: the edge's own read must wait, so users' messages
 * get what is left); else `stale` (read it again). `stretchedMs` is asked only past the window.
 */
export function freshnessOf(entry: KeptAnswer, at: number, ttlMs: number, stretchedMs: () => number): 'fresh' | 'stale-budget' | 'stale' {
  if (isWithin(entry, at, ttlMs)) return 'fresh';
  return isWithin(entry, at, stretchedMs()) ? 'stale-budget' : 'stale';
}

/** If-None-Match matches with the weak comparison (RFC 9110 §13.1.2): `W/` is ignored, `*` matches. */
export function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const text = tag.trim();
    return text === '*' || text.replace(/^W\//, '') === etag;
  });
}

/** The kept answers by key, their bodies weighing at most `maxBytes` together. */
export class KeptAnswers {
  readonly #entries = new Map<string, KeptAnswer>();
  #bytes = 0;

  constructor(readonly maxBytes: number) {}

  get size(): number {
    return this.#entries.size;
  }

  /** What the kept bodies weigh together, bytes. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The answer kept for `key`, its place in the use order unchanged. */
  peek(key: string): KeptAnswer | undefined {
    return this.#entries.get(key);
  }

  /** Marks `key`'s answer the most recently used. */
  touch(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
  }

  /** Keeps `entry` for `key` (the most recently used), then drops the least recently used until the bodies fit. */
  keep(key: string, entry: KeptAnswer): void {
    this.forget(key);
    this.#entries.set(key, entry);
    this.#bytes += entry.body.length;
    // A Map iterates in insertion order, and a touch re-inserts: the first is the least recently used.
    for (const oldest of this.#entries.keys()) {
      if (this.#bytes <= this.maxBytes) break;
      this.forget(oldest);
    }
  }

  forget(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#bytes -= entry.body.length;
    this.#entries.delete(key);
  }
}
