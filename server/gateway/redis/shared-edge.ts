/**
 * The edge's kept answers shared by the gateway instances on one Redis (docs/cluster.md),
 * so ElizaOS is read once per window for the whole cluster, whichever instance is asked.
 * An instance whose own copy is out of its window first looks for a copy another instance
 * stored within the window; failing that, one instance takes the key's lease (SET NX PX:
 * it expires by itself, so a holder that crashed blocks nobody for long) and reads
 * upstream, and the others wait for the copy it stores. While Redis is down every
 * instance reads for itself, as a single gateway does.
 */
import { randomUUID } from 'node:crypto';
import { type RedisLink, sendQuietly, storedObject } from './redis';

/** A kept answer as the edge holds it (server/gateway/edge/edge.ts `KeptAnswer`). */
export interface SharedAnswer {
  body: Buffer;
  etag: string;
  upstreamEtag?: string;
  headers: [string, string | string[]][];
  storedAt: number;
}

export interface SharedEdge {
  /** The copy stored for `key`, or undefined (none, or Redis down or answering nonsense). */
  get(key: string): Promise<SharedAnswer | undefined>;
  /** Stores `answer` for the others, kept in Redis for `keepMs`. Never rejects. */
  put(key: string, answer: SharedAnswer, keepMs: number): Promise<void>;
  /** Takes the right to read `key` upstream for `ms`; false while another instance holds it. True when Redis cannot say (read then). */
  lease(key: string, ms: number): Promise<boolean>;
  /** Gives the lease back, if this instance still holds it. Never rejects. */
  release(key: string): Promise<void>;
}

const ANSWER = 'purl:edge:answer:';
const LEASE = 'purl:edge:lease:';
/** Deletes a lease only when it is still the one this instance took. */
const RELEASE_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/** What Redis holds for a key, checked: anything else is no copy (never served). */
export function parseSharedAnswer(raw: unknown): SharedAnswer | undefined {
  const value = storedObject(raw);
  if (!value) return undefined;
  const { body, etag, upstreamEtag, headers, storedAt } = value;
  if (typeof body !== 'string' || typeof etag !== 'string' || typeof storedAt !== 'number' || !Number.isFinite(storedAt)) return undefined;
  if (upstreamEtag !== undefined && typeof upstreamEtag !== 'string') return undefined;
  if (!Array.isArray(headers)) return undefined;
  const checked: [string, string | string[]][] = [];
  for (const header of headers) {
    if (!Array.isArray(header) || header.length !== 2 || typeof header[0] !== 'string') return undefined;
    const [name, headerValue] = header as [string, unknown];
    if (typeof headerValue === 'string' || (Array.isArray(headerValue) && headerValue.every((item) => typeof item === 'string'))) {
      checked.push([name, headerValue as string | string[]]);
    } else return undefined;
  }
  return {
    body: Buffer.from(body, 'base64'),
    etag,
    ...(upstreamEtag === undefined ? {} : { upstreamEtag }),
    headers: checked,
    storedAt,
  };
}

export function createSharedEdge(link: RedisLink): SharedEdge {
  /** The mark of each lease this instance holds, by key (a fresh one each time: an old refresh cannot give back a newer one's). */
  const tokens = new Map<string, string>();
  const up = () => link.state() === 'up';
  const quietly = (command: string[]) => sendQuietly(link, command);

  return {
    async get(key) {
      if (!up()) return undefined;
      return parseSharedAnswer(await quietly(['GET', ANSWER + key]));
    },
    async put(key, answer, keepMs) {
      if (!up()) return;
      const stored = { ...answer, body: answer.body.toString('base64') };
      await quietly(['SET', ANSWER + key, JSON.stringify(stored), 'PX', String(Math.max(1, Math.round(keepMs)))]);
    },
    async lease(key, ms) {
      if (!up()) return true;
      const token = randomUUID();
      try {
        const taken = (await link.send(['SET', LEASE + key, token, 'NX', 'PX', String(Math.max(1, Math.round(ms)))])) === 'OK';
        if (taken) tokens.set(key, token);
        return taken;
      } catch (error) {
        link.noteFailure(error);
        return true;
      }
    },
    async release(key) {
      const token = tokens.get(key);
      tokens.delete(key);
      if (!up() || token === undefined) return;
      await quietly(['EVAL', RELEASE_SCRIPT, '1', LEASE + key, token]);
    },
  };
}
