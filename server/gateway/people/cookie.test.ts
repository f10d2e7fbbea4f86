import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../../../src/shared/clock';
import { createMemoryIdentities, SEEN_EVERY_MS } from './identities';
import { createPeople, IDENTITY_COOKIE, tokenOf } from './people';

/** What identify reads of a request and writes on an answer. */
function exchange(cookie?: string) {
  const headers = new Map<string, unknown>([['set-cookie', ['other=1; Path=/']]]);
  const req = { headers: cookie === undefined ? {} : { cookie } } as IncomingMessage;
  const res = {
    getHeader: (name: string) => headers.get(name.toLowerCase()),
    setHeader: (name: string, value: unknown) => headers.set(name.toLowerCase(), value),
  } as unknown as ServerResponse;
  return { req, res, setCookies: () => headers.get('set-cookie') as string[] };
}

describe('the identity cookie', () => {
  const clock = manualClock(1_000);
  const people = createPeople({ signIn: 'device', store: createMemoryIdentities({ clock }), now: () => clock.now() });

  it('is Secure under https, added beside the cookies an answer already sets', async () => {
    const first = exchange();
    await people.identify(first.req, first.res, true);
    expect(first.setCookies()).toEqual([
      'other=1; Path=/',
      expect.stringMatching(/^purl_id=[\w-]{43}; Max-Age=34560000; Path=\/; HttpOnly; Secure; SameSite=Lax$/),
    ]);
  });

  it('is renewed once a day at most while the person comes back', async () => {
    const first = exchange();
    const person = await people.identify(first.req, first.res, false);
    const cookie = first.setCookies()[1]!.split(';')[0]!;
    const again = exchange(cookie);
    // The first return confirms the identity; the cookie is not set again.
    expect(await people.identify(again.req, again.res, false)).toEqual(person);
    expect(again.setCookies()).toHaveLength(1);
    clock.advance(SEEN_EVERY_MS);
    const later = exchange(cookie);
    expect(await people.identify(later.req, later.res, false)).toEqual(person);
    expect(later.setCookies()[1]).toBe(first.setCookies()[1]);
  });

  it("reads only a token of the gateway's shape, the first of repeated ones (as the browser sends the most specific first)", () => {
    const token = 'a'.repeat(43);
    expect(tokenOf(exchange(`x=1; ${IDENTITY_COOKIE}=${token}`).req)).toBe(token);
    expect(tokenOf(exchange(`${IDENTITY_COOKIE}=${'b'.repeat(43)}; ${IDENTITY_COOKIE}=${token}`).req)).toBe('b'.repeat(43));
    for (const bad of [`${IDENTITY_COOKIE}=short`, `${IDENTITY_COOKIE}=${'a'.repeat(44)}`, `${IDENTITY_COOKIE}=${'a'.repeat(42)}=`, '']) {
      expect(tokenOf(exchange(bad).req)).toBeUndefined();
    }
  });
});
