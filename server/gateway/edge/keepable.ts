/**
 * Which answers the edge may keep (STYLE.md #21, validate before you keep): a 200 of JSON
 * that passes the app's boundary check, `secrets` dropped, within the edge's byte bound;
 * anything else is passed on to the browsers that waited as the proxy would have passed it,
 * and never kept. A copy another instance stored in Redis is another process's word: it
 * passes the same check before it is kept here. Pure: no I/O, time passed in.
 */
import { browserHeaders, DROPPED_ANSWER_HEADERS, isJson } from '../upstream/client';
import { parseForBrowser } from '../upstream/strip-secrets';
import type { SharedAnswer } from '../redis/shared-edge';
import type { UpstreamRead } from '../upstream/client';
import { etagOf, isWithin, type KeptAnswer, type KeptAnswers } from './kept-answers';

/** Headers of the upstream's own that say nothing true about the edge's copy, or must not be shared. */
export const NOT_KEPT = new Set([...DROPPED_ANSWER_HEADERS, 'etag', 'last-modified', 'cache-control', 'age', 'date', 'expires', 'set-cookie', 'vary']);

/** An upstream answer to pass on as it came (not kept). */
export interface PassedAnswer {
  kind: 'pass';
  status: number;
  headers: [string, string | string[]][];
  body: Buffer;
}

/** What to do with a full upstream answer: keep it (and send it), or pass it on, dropping what was kept when it says so. */
export type Settled = { kind: 'kept'; entry: KeptAnswer; value: unknown } | { pass: PassedAnswer; kind: 'pass'; dropsKept: boolean };

/** The boundary check of a successful answer: throws when the shape is wrong. */
export type AnswerCheck = (body: unknown) => void;

/** Decides over a full upstream answer that arrived at `at`. */
export function settleAnswer(read: UpstreamRead & { kind: 'answer' }, check: AnswerCheck, maxBytes: number, at: number): Settled {
  let body = read.body;
  let isGood = false;
  let parsed: unknown;
  if (isJson(read)) {
    try {
      const clean = parseForBrowser(body, read.status >= 400);
      parsed = clean.value;
      if (clean.stripped) body = Buffer.from(JSON.stringify(clean.value));
      if (read.status === 200) {
        check(clean.value);
        isGood = true;
      }
    } catch {
      // Broken JSON or the wrong shape: passed on unchanged for the worker to refuse, never kept.
    }
  }
  if (isGood && body.length <= maxBytes) {
    const entry: KeptAnswer = { body, etag: etagOf(body), headers: browserHeaders(read.headers, NOT_KEPT), storedAt: at };
    const upstreamEtag = read.headers['etag'];
    if (typeof upstreamEtag === 'string') entry.upstreamEtag = upstreamEtag;
    return { kind: 'kept', entry, value: parsed };
  }
  return {
    kind: 'pass',
    pass: { kind: 'pass', status: read.status, headers: browserHeaders(read.headers, DROPPED_ANSWER_HEADERS), body },
    // A newer answer replaced what was kept, even if it cannot be kept itself.
    dropsKept: read.status >= 200 && read.status < 300,
  };
}

/**
 * Another instance's copy as this one would keep it, when it was stored within `ttlMs` of
 * `at`, fits the bound and passes the check (`secrets` dropped again, and of its headers
 * only a JSON content type taken); else undefined.
 */
export function keepableCopy(copy: SharedAnswer | undefined, check: AnswerCheck, ttlMs: number, maxBytes: number, at: number): KeptAnswer | undefined {
  if (!copy || !isWithin(copy, at, ttlMs) || copy.body.length > maxBytes) return undefined;
  let body = copy.body;
  try {
    const clean = parseForBrowser(body, false);
    check(clean.value);
    if (clean.stripped) body = Buffer.from(JSON.stringify(clean.value));
  } catch {
    return undefined;
  }
  return {
    body,
    etag: etagOf(body),
    headers: [['content-type', 'application/json; charset=utf-8']],
    storedAt: copy.storedAt,
    ...(copy.upstreamEtag === undefined ? {} : { upstreamEtag: copy.upstreamEtag }),
  };
}

/** How long a copy stays in Redis for the others: long past the window, so a conditional refresh can use its validator. */
export const sharedKeepMs = (ttlMs: number): number => Math.max(10 * ttlMs, 60_000);

/**
 * Applies a full upstream answer for `key` to `kept`, `held` being what was kept when the
 * read was asked for: a 304 makes `held` current again at `at` (with no body to read or
 * check; kept afresh if it was dropped meanwhile to make room), a good answer is kept, and
 * any other 2xx drops what was kept. Says what to send.
 */
export function keepRead(
  kept: KeptAnswers,
  key: string,
  held: KeptAnswer | undefined,
  read: UpstreamRead & { kind: 'answer' },
  check: AnswerCheck,
  at: number,
): { kind: 'kept'; entry: KeptAnswer; value?: unknown } | PassedAnswer {
  if (read.status === 304 && held) {
    held.storedAt = at;
    if (kept.peek(key) !== held) kept.keep(key, held);
    return { kind: 'kept', entry: held };
  }
  const settled = settleAnswer(read, check, kept.maxBytes, at);
  if (settled.kind === 'kept') {
    kept.keep(key, settled.entry);
    return settled;
  }
  if (settled.dropsKept) kept.forget(key);
  return settled.pass;
}
