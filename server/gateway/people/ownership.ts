/**
 * Whose chat session is it: the gateway answers a session's routes (its messages read and
 * posted, its part of a sync, its push stream) only for its owner, the person whose id
 * ElizaOS knows as the session's userId. The session book (upstream/session-book.ts) knows
 * the sessions this gateway made or learnt (with REDIS_URL, the cluster's); one it does not
 * know is asked of ElizaOS once (`GET /api/messaging/sessions/:id`, a read of the asker's
 * own), and then kept. Anyone else is told there is no such session: a 404, with nothing
 * forwarded, and no word that it exists.
 */
import type { SessionBook } from '../upstream/session-book';
import type { UpstreamClient } from '../upstream/client';

/** `theirs`: the asker's; `not-theirs`: someone else's, or no session at all; `unknown`: ElizaOS could not be asked now. */
export type Owned = 'theirs' | 'not-theirs' | 'unknown';

export interface Ownership {
  /** Whether `sessionId` is `personId`'s; `client` is who asks (the read upstream counts for them). */
  of(sessionId: string, personId: string, client: string): Promise<Owned>;
}

export interface OwnershipOptions {
  book: SessionBook;
  upstream: Pick<UpstreamClient, 'send'>;
}

/** The answer ElizaOS gave about a session, parsed; undefined when it is not JSON. */
function parsed(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

export function createOwnership({ book, upstream }: OwnershipOptions): Ownership {
  /** The lookups under way, by session: the requests of one poll ask ElizaOS once. */
  const asking = new Map<string, Promise<Owned | 'learnt'>>();

  async function ask(sessionId: string, client: string): Promise<Owned | 'learnt'> {
    const sending = upstream.send({ cost: 'own-read', client, byUser: true, method: 'GET', path: `/api/messaging/sessions/${sessionId}` });
    if (sending.kind === 'refused') return 'unknown';
    const answer = await sending.answer;
    if (answer.kind === 'failed') return 'unknown';
    // Lost, expired or never made: no one's (the browser makes a new session).
    if (answer.status === 404 || answer.status === 410) return 'not-theirs';
    return book.learnFromInfo(sessionId, answer.status, parsed(answer.body), client) ? 'learnt' : 'unknown';
  }

  return {
    async of(rawId, personId, client) {
      const sessionId = rawId.toLowerCase();
      const owner = (await book.load(sessionId))?.userId;
      if (owner !== undefined) return owner.toLowerCase() === personId ? 'theirs' : 'not-theirs';
      let lookup = asking.get(sessionId);
      if (!lookup) {
        lookup = ask(sessionId, client).finally(() => asking.delete(sessionId));
        asking.set(sessionId, lookup);
      }
      const found = await lookup;
      if (found !== 'learnt') return found;
      return book.get(sessionId)?.userId.toLowerCase() === personId ? 'theirs' : 'not-theirs';
    },
  };
}
