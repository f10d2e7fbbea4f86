/**
 * The door every answer passes before anything trusts it: a successful answer on a path
 * Purl reads must be JSON of the shape src/shared/api.ts expects. The guard runs it
 * before telling the breaker how the request went, so an HTML page answered with 200 (a
 * captive portal, a misrouted proxy), JSON of the wrong shape or a body cut short counts
 * as a failure — for the breaker, the backoff and the monitor — and is never stored.
 * This is workbox's `cacheWillUpdate` idea (STYLE.md rule 21) moved one step earlier:
 * not "do not cache it" but "do not believe it".
 *
 * The body is read from a clone, so the caller still reads the answer itself. A body is
 * therefore parsed twice (here and by whoever keeps it); that costs one more JSON.parse,
 * which the worker can afford, and keeps one rule for every reader, the chat's included.
 */
import { checkAnswer, hasAnswerShape } from '../src/shared/api';
import { PurlError } from '../src/shared/errors';

/** Resolves why `response` to `request` cannot be trusted, or undefined when it can (or is not Purl's to judge). */
export async function untrustedAnswer(request: Request, response: Response): Promise<PurlError | undefined> {
  if (!response.ok) return undefined;
  const { pathname } = new URL(request.url);
  if (!hasAnswerShape(request.method, pathname)) return undefined;
  let text: string;
  try {
    text = await response.clone().text();
  } catch {
    return new PurlError('bad-response', 'the body was cut short');
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return new PurlError('bad-response', 'the body is not JSON');
  }
  try {
    checkAnswer(request.method, pathname, body);
  } catch (error) {
    return error instanceof PurlError ? error : new PurlError('bad-response', String(error));
  }
  return undefined;
}
