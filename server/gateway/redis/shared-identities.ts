/**
 * The identities of a cluster, shared through Redis (docs/cluster.md): a person signed in
 * through one instance is known by every other. Each identity is `purl:identity:<key>` (the
 * key is the cookie token's hash, never the token), kept as long as an unused identity is
 * (IDENTITY_IDLE_MS; a fresh one, whose browser has not come back yet, FRESH_MS). The instance's own store (server/gateway/people/identities.ts) keeps
 * them too: it answers first, and alone while Redis is down. What comes back from Redis is
 * checked as the file's identities are: anything else is no identity.
 */
import { FRESH_MS, type Identity, IDENTITY_IDLE_MS, type IdentityStore, parseIdentity } from '../people/identities';
import { type RedisLink, sendQuietly, storedObject } from './redis';

const KEY = 'purl:identity:';

/** The cluster's identities over `local` (this instance's). */
export function createSharedIdentities(link: RedisLink, local: IdentityStore): IdentityStore {
  const quietly = (command: string[]) => sendQuietly(link, command);
  const share = (key: string, identity: Identity) =>
    quietly(['SET', KEY + key, JSON.stringify(identity), 'PX', String(identity.confirmed ? IDENTITY_IDLE_MS : FRESH_MS)]);
  return {
    async find(key) {
      const known = await local.find(key);
      if (known) return known;
      const found = parseIdentity(storedObject(await quietly(['GET', KEY + key])));
      if (found) await local.keep(key, found);
      return found;
    },
    async keep(key, identity) {
      await local.keep(key, identity);
      await share(key, identity);
    },
    async forget(key) {
      await local.forget(key);
      await quietly(['DEL', KEY + key]);
    },
    size: () => local.size(),
    close: () => local.close(),
  };
}
