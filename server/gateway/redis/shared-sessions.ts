/**
 * The sessions the gateways of a cluster made or learnt, shared through Redis
 * (docs/cluster.md): an instance that did not see a session made finds it here, and sends its
 * user's messages over its own socket at once, instead of a first one over HTTP to learn it.
 * Each record (`purl:session:<id>`: channel, user, agent, client, when ElizaOS last saw the
 * session over HTTP) expires when the session has been unused as long as the book forgets it.
 * What comes back from Redis is checked as ElizaOS's answer was: anything else is no record.
 */
import { type RedisLink, sendQuietly, storedObject } from './redis';
import { isUuid } from '../../../src/shared/ids';

const KEY = 'purl:session:';
/** A client as the gateway names it (req.ip: an IPv4 or IPv6 address). */
const CLIENT = /^[0-9a-fA-F:.]{1,64}$/;

export interface StoredSession {
  channelId: string;
  userId: string;
  agentId?: string;
  client: string;
  /** Epoch ms when ElizaOS last saw the session over HTTP. */
  seenAt: number;
}

export interface SharedSessions {
  /** Stores the record for `keepMs`. Never rejects. */
  remember(sessionId: string, record: StoredSession, keepMs: number): Promise<void>;
  /** The record stored for the session, or undefined (none, Redis away, or not a record). */
  recall(sessionId: string): Promise<StoredSession | undefined>;
  /** Never rejects. */
  forget(sessionId: string): Promise<void>;
}

/** What Redis holds for a session, checked. */
export function parseStoredSession(raw: unknown): StoredSession | undefined {
  const value = storedObject(raw);
  if (!value) return undefined;
  const { channelId, userId, agentId, client, seenAt } = value;
  if (!isUuid(channelId) || !isUuid(userId) || (agentId !== undefined && !isUuid(agentId))) return undefined;
  if (typeof client !== 'string' || !CLIENT.test(client) || typeof seenAt !== 'number' || !Number.isFinite(seenAt)) return undefined;
  return { channelId, userId, ...(agentId === undefined ? {} : { agentId }), client, seenAt };
}

export function createSharedSessions(link: RedisLink): SharedSessions {
  const quietly = (command: string[]) => sendQuietly(link, command);
  return {
    async remember(sessionId, record, keepMs) {
      await quietly(['SET', KEY + sessionId, JSON.stringify(record), 'PX', String(Math.max(1, Math.round(keepMs)))]);
    },
    recall: async (sessionId) => parseStoredSession(await quietly(['GET', KEY + sessionId])),
    async forget(sessionId) {
      await quietly(['DEL', KEY + sessionId]);
    },
  };
}
