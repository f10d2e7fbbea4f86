/**
 * Who is asking: the gateway's identity of a person, never the browser's word. Every
 * browser gets an identity cookie from the gateway (HttpOnly, SameSite=Lax, Secure under
 * https, an opaque random token; what it stands for is kept server-side in the identity
 * store, identities.ts). With PURL_AUTH=device (the default) each browser profile is a
 * person of its own: a request without a known cookie is given a new person and its cookie.
 * A person's id is their userId at ElizaOS: the author of their messages, the owner of their
 * chat sessions (ownership.ts).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseCookie, stringifySetCookie } from 'cookie';
import { type Identity, type IdentityStore, type Person, SEEN_EVERY_MS, type SignIn } from './identities';

export type { Person } from './identities';

/** The identity cookie's name. */
export const IDENTITY_COOKIE = 'purl_id';
/** How long a browser keeps the cookie, s: 400 days, the most browsers allow; renewed as it is used. */
const COOKIE_MAX_AGE_S = 400 * 24 * 60 * 60;
/** A token as the gateway makes them: 32 random bytes, base64url. */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export interface PeopleOptions {
  signIn: SignIn;
  store: IdentityStore;
  now: () => number;
}

export interface People {
  /**
   * The person asking, from the request's identity cookie; with device sign-in, a new person
   * when it has none (or one the gateway does not know), their cookie set on the answer.
   */
  identify(req: IncomingMessage, res: ServerResponse, secure: boolean): Promise<Person>;
  stats(): { identities: number };
  close(): void;
}

/** The key an identity is kept under: the token's SHA-256, so the store holds no cookie. */
export const identityKey = (token: string): string => createHash('sha256').update(token).digest('base64url');

/** The identity cookie's token in a request, if it has one of the gateway's shape (the first one, if repeated). */
export function tokenOf(req: IncomingMessage): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  const token = parseCookie(header)[IDENTITY_COOKIE];
  return token !== undefined && TOKEN.test(token) ? token : undefined;
}

/** Sets the identity cookie on an answer (added to any Set-Cookie already there). */
export function setIdentityCookie(res: ServerResponse, token: string, secure: boolean): void {
  const cookie = stringifySetCookie({
    name: IDENTITY_COOKIE,
    value: token,
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure,
    maxAge: COOKIE_MAX_AGE_S,
  });
  const existing = res.getHeader('Set-Cookie');
  res.setHeader('Set-Cookie', [...(Array.isArray(existing) ? existing : existing === undefined ? [] : [String(existing)]), cookie]);
}

export function createPeople(options: PeopleOptions): People {
  const { store, now } = options;

  async function mint(res: ServerResponse, secure: boolean): Promise<Person> {
    const token = randomBytes(32).toString('base64url');
    const at = now();
    const person: Person = { id: randomUUID(), signIn: options.signIn };
    await store.keep(identityKey(token), { person, createdAt: at, seenAt: at, confirmed: false });
    setIdentityCookie(res, token, secure);
    return person;
  }

  /** A known identity used again: confirmed the first time its browser comes back, then noted (and its cookie renewed) at most once a day. */
  async function seen(key: string, identity: Identity, token: string, res: ServerResponse, secure: boolean): Promise<void> {
    const at = now();
    if (!identity.confirmed) {
      await store.keep(key, { ...identity, seenAt: at, confirmed: true });
      return;
    }
    if (at - identity.seenAt < SEEN_EVERY_MS) return;
    await store.keep(key, { ...identity, seenAt: at });
    setIdentityCookie(res, token, secure);
  }

  return {
    async identify(req, res, secure) {
      const token = tokenOf(req);
      if (token !== undefined) {
        const key = identityKey(token);
        const identity = await store.find(key);
        if (identity && identity.person.signIn === options.signIn) {
          await seen(key, identity, token, res, secure);
          return identity.person;
        }
      }
      return mint(res, secure);
    },
    stats: () => ({ identities: store.size() }),
    close: () => store.close(),
  };
}
