/**
 * Reads the server's rate-limit headers, in every form express-rate-limit sends
 * (IETF draft-ietf-httpapi-ratelimit-headers 06, 07 and 08), plus `Retry-After`. Both
 * wings read them: the worker to pace its requests (sw/budget.ts, sw/guard.ts), the
 * gateway to restate the upstream's budget (server/gateway/upstream/rate-limit-headers.ts).
 * Only the fetch `Headers` type is used, so this compiles under every tsconfig.
 *
 * Headers are input: a value that is missing, negative or not a whole number is
 * skipped on its own, and the rest is still read. Nothing here throws on a header.
 */
import type { RateLimitInfo } from './network';

/** A parameter value: a number, a string, or `true` for a bare key. */
type ParamValue = number | string | true;

/** One member of a structured-field list: its item and its `;key=value` parameters. */
interface Member {
  item: string;
  params: Map<string, ParamValue>;
}

/** A whole, non-negative number of the kind the drafts send, or undefined. */
function parseCount(raw: string | null | undefined): number | undefined {
  if (raw == null) return undefined;
  const text = raw.trim();
  if (!/^\d{1,15}$/.test(text)) return undefined;
  return Number(text);
}

/**
 * Splits on `separator` outside double-quoted strings (RFC 8941 sf-string, where `\"`
 * escapes a quote), because a draft-8 policy name may contain `,` or `;`.
 */
function splitOutsideQuotes(text: string, separator: ',' | ';'): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i] as string;
    if (quoted && char === '\\') {
      current += char + (text[i + 1] ?? '');
      i += 1;
      continue;
    }
    if (char === '"') quoted = !quoted;
    if (char === separator && !quoted) {
      parts.push(current.trim());
      current = '';
    } else {
      current += char;
    }
  }
  parts.push(current.trim());
  return parts.filter((part) => part !== '');
}

function unquote(text: string): string {
  return text.length >= 2 && text.startsWith('"') && text.endsWith('"') ? text.slice(1, -1).replace(/\\(.)/g, '$1') : text;
}

function parseParamValue(raw: string): ParamValue {
  const count = parseCount(raw);
  return count ?? unquote(raw.trim());
}

/**
 * A forgiving reading of an RFC 8941 list (`item;k=v;k=v, item;k=v`). Strict parsing
 * would reject a whole header for one odd byte; field-by-field tolerance is the point.
 */
function parseList(header: string | null): Member[] {
  if (!header) return [];
  return splitOutsideQuotes(header, ',').map((member) => {
    const [item = '', ...rawParams] = splitOutsideQuotes(member, ';');
    const params = new Map<string, ParamValue>();
    for (const rawParam of rawParams) {
      // Only the first `=` separates: draft-8's `pk=:base64:` may end in `=` padding.
      const eq = rawParam.indexOf('=');
      const key = (eq < 0 ? rawParam : rawParam.slice(0, eq)).trim().toLowerCase();
      if (key && !params.has(key)) params.set(key, eq < 0 ? true : parseParamValue(rawParam.slice(eq + 1)));
    }
    return { item: item.trim(), params };
  });
}

function numberParam(member: Member, key: string): number | undefined {
  const value = member.params.get(key);
  return typeof value === 'number' ? value : undefined;
}

interface Policy {
  /** Draft-8 policy name; absent in draft-6/7, whose item is the quota itself. */
  name?: string;
  quota?: number;
  windowMs?: number;
}

/**
 * `RateLimit-Policy`, in both shapes:
 * draft-6/7 `1000;w=900` (the item is the quota) and draft-8 `"name"; q=1000; w=900`.
 * Draft-8 policies counted in another unit (`qu="content-bytes"`) are not about
 * requests, so they are left out.
 */
function parsePolicies(header: string | null): Policy[] {
  const policies: Policy[] = [];
  for (const member of parseList(header)) {
    const unit = member.params.get('qu');
    if (unit !== undefined && unit !== 'requests') continue;
    const itemCount = parseCount(member.item);
    const quota = numberParam(member, 'q') ?? itemCount;
    const window = numberParam(member, 'w');
    const policy: Policy = {};
    if (itemCount === undefined && member.item !== '') policy.name = unquote(member.item);
    if (quota !== undefined) policy.quota = quota;
    if (window !== undefined) policy.windowMs = window * 1000;
    policies.push(policy);
  }
  return policies;
}

/** Requests per second a limit still allows until its reset (a reset of 0 s counts as 1 s). */
function pace(remaining: number, resetSeconds: number | undefined): number {
  return remaining / Math.max(1, resetSeconds ?? 1);
}

/** What one `RateLimit` header says, before it is matched with a policy. */
interface Current {
  name?: string;
  limit?: number;
  remaining?: number;
  resetSeconds?: number;
}

/**
 * `RateLimit`, in both shapes: the draft-7 dictionary `limit=1000, remaining=998, reset=899`
 * and the draft-8 list `"name"; r=998; t=899`. With several draft-8 limits (one per
 * limiter the request passed: the gateway's per-minute limit and the server's 15-minute
 * budget, say) the one that allows the fewest requests per second until its reset binds:
 * 400 left of a minute is more room than 900 left of fifteen. Members named in `ignore`
 * never bind.
 */
function parseCurrent(header: string | null, ignore: readonly string[] = []): Current {
  const dictionary: Current = {};
  let binding: Current | undefined;
  for (const member of parseList(header)) {
    const eq = member.item.indexOf('=');
    if (eq > 0 && !member.item.startsWith('"')) {
      // A draft-7 dictionary member: a key, not an item, sits before the `=`.
      const key = member.item.slice(0, eq).trim().toLowerCase();
      const value = parseCount(member.item.slice(eq + 1));
      if (value === undefined) continue;
      if (key === 'limit') dictionary.limit ??= value;
      else if (key === 'remaining') dictionary.remaining ??= value;
      else if (key === 'reset') dictionary.resetSeconds ??= value;
      continue;
    }
    const remaining = numberParam(member, 'r');
    const resetSeconds = numberParam(member, 't');
    if (remaining === undefined && resetSeconds === undefined) continue;
    if (ignore.includes(unquote(member.item))) continue;
    if (
      binding &&
      (remaining === undefined || (binding.remaining !== undefined && pace(binding.remaining, binding.resetSeconds) <= pace(remaining, resetSeconds)))
    )
      continue;
    binding = { name: unquote(member.item) };
    if (remaining !== undefined) binding.remaining = remaining;
    if (resetSeconds !== undefined) binding.resetSeconds = resetSeconds;
  }
  return binding ? { ...binding, ...dictionary } : dictionary;
}

const DAYS = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAYS = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = `(${MONTHS.join('|')})`;
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
// RFC 9110 §5.6.7: recipients must accept all three forms.
const IMF_FIXDATE = new RegExp(`^${DAYS}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(`^${LONG_DAYS}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
const ASCTIME_DATE = new RegExp(`^${DAYS} ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`);

function utc(year: number, month: string, day: number, hour: number, minute: number, second: number): number | undefined {
  const monthIndex = MONTHS.indexOf(month);
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  const time = Date.UTC(year, monthIndex, day, hour, minute, Math.min(second, 59));
  // Date.UTC rolls 31 Feb over into March; a date that does not exist is garbage.
  return new Date(time).getUTCDate() === day ? time : undefined;
}

/**
 * An HTTP-date as epoch ms, or undefined. Parsed by hand because `Date.parse` accepts
 * far more than HTTP-dates (in V8, `Date.parse('1')` is a date in 2001).
 */
function parseHttpDate(text: string, now: number): number | undefined {
  let match = IMF_FIXDATE.exec(text);
  if (match) {
    const [, day, month, year, h, m, s] = match;
    return utc(Number(year), month as string, Number(day), Number(h), Number(m), Number(s));
  }
  match = RFC850_DATE.exec(text);
  if (match) {
    const [, day, month, yy, h, m, s] = match;
    // RFC 9110: a two-digit year more than 50 years ahead is the most recent past one.
    const nowYear = new Date(now).getUTCFullYear();
    let year = Math.floor(nowYear / 100) * 100 + Number(yy);
    if (year > nowYear + 50) year -= 100;
    return utc(year, month as string, Number(day), Number(h), Number(m), Number(s));
  }
  match = ASCTIME_DATE.exec(text);
  if (match) {
    const [, month, day, h, m, s, year] = match;
    return utc(Number(year), month as string, Number(day), Number(h), Number(m), Number(s));
  }
  return undefined;
}

/**
 * `Retry-After` (delta-seconds or HTTP-date) as epoch ms. A date already past gives
 * `now`: the server asked for no wait, and keeping the field still records that it
 * sent one (metrics count it). A server clock ahead of ours can only make us wait
 * longer than needed, never shorter.
 */
function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (header == null) return undefined;
  const text = header.trim();
  const seconds = parseCount(text);
  if (seconds !== undefined) return now + seconds * 1000;
  const date = parseHttpDate(text, now);
  return date === undefined ? undefined : Math.max(now, date);
}

export interface ParseRateLimitOptions {
  /**
   * Draft-8 members that do not bind this answer: limits it did not spend from (the
   * upstream's budget, on an answer the gateway's edge served from what it keeps).
   */
  ignore?: readonly string[];
}

/**
 * Normalises the rate-limit headers of one response into a `RateLimitInfo`.
 *
 * Reads, field by field, the first valid value among:
 * - draft-7 `RateLimit: limit=…, remaining=…, reset=<s>` and draft-8 `RateLimit: "id"; r=…; t=<s>`
 *   (the limit and window of draft-8 come from the `RateLimit-Policy` member of the same id);
 * - draft-6 `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset: <s>`;
 * - `RateLimit-Policy` (`1000;w=900` or `"id"; q=1000; w=900`) for the limit and window;
 * - `Retry-After: <s>` or an HTTP-date for `retryAt` (a past date gives `now`).
 *
 * Reset and Retry-After are relative, so they are made absolute with `now` (epoch ms,
 * the time the response arrived). Fields with no valid value are absent; this never throws.
 */
export function parseRateLimit(headers: Headers, now: number, options: ParseRateLimitOptions = {}): RateLimitInfo {
  const current = parseCurrent(headers.get('ratelimit'), options.ignore);
  const policies = parsePolicies(headers.get('ratelimit-policy'));

  // Older drafts allowed `RateLimit-Limit: 10, 10;w=1`; the first member is the limit.
  const limit = current.limit ?? parseCount(parseList(headers.get('ratelimit-limit'))[0]?.item);
  const remaining = current.remaining ?? parseCount(headers.get('ratelimit-remaining'));
  const resetSeconds = current.resetSeconds ?? parseCount(headers.get('ratelimit-reset'));

  // The policy that describes this limit: draft-8 names it; with draft-6/7 it is the
  // one with the same quota. Only when nothing identifies it is the first one taken,
  // so the window of one limiter is never paired with the counts of another.
  const policy =
    current.name !== undefined ? policies.find((p) => p.name === current.name) : limit !== undefined ? policies.find((p) => p.quota === limit) : policies[0];

  const info: RateLimitInfo = {};
  const resolvedLimit = limit ?? policy?.quota;
  if (resolvedLimit !== undefined) info.limit = resolvedLimit;
  if (remaining !== undefined) info.remaining = remaining;
  if (resetSeconds !== undefined) info.resetAt = now + resetSeconds * 1000;
  if (policy?.windowMs !== undefined) info.windowMs = policy.windowMs;
  const retryAt = parseRetryAfter(headers.get('retry-after'), now);
  if (retryAt !== undefined) info.retryAt = retryAt;
  return info;
}

/**
 * One named draft-8 member (`"name"; r=…; t=…` with its `RateLimit-Policy`), whether it
 * binds or not: for showing a limit of its own (the server's budget, this user's share).
 * Undefined when the answer does not state it.
 */
export function readRateLimitMember(headers: Headers, name: string, now: number): RateLimitInfo | undefined {
  const member = parseList(headers.get('ratelimit')).find((entry) => entry.item.startsWith('"') && unquote(entry.item) === name);
  if (!member) return undefined;
  const info: RateLimitInfo = {};
  const remaining = numberParam(member, 'r');
  const resetSeconds = numberParam(member, 't');
  if (remaining !== undefined) info.remaining = remaining;
  if (resetSeconds !== undefined) info.resetAt = now + resetSeconds * 1000;
  const policy = parsePolicies(headers.get('ratelimit-policy')).find((entry) => entry.name === name);
  if (policy?.quota !== undefined) info.limit = policy.quota;
  if (policy?.windowMs !== undefined) info.windowMs = policy.windowMs;
  return info;
}
