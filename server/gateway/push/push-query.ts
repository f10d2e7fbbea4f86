/**
 * The push route's address and query (docs/push.md):
 *
 *   GET /api/purl/push?session=<sessionId>.<channelId>.<pushToken>[&session=…][&lastEventId=<epoch>.<seq>]
 *
 * Read once at the door; everything past it works with the checked `PushQuery`.
 */
import { UUID_SEGMENT } from '../../../src/shared/ids';
import { PUSH_TOKEN_LENGTH } from './push-token';

export const PUSH_PATH = '/api/purl/push';
/** Sessions one stream may carry: a browser has one chat per agent. */
export const MAX_SESSIONS_PER_STREAM = 8;

const SESSION = new RegExp(`^${UUID_SEGMENT}\\.${UUID_SEGMENT}\\.([A-Za-z0-9_-]{${PUSH_TOKEN_LENGTH}})$`);
const EVENT_ID = /^([0-9a-f]{12})\.(0|[1-9][0-9]{0,14})$/;

export interface PushSession {
  sessionId: string;
  channelId: string;
  token: string;
}

export interface PushQuery {
  sessions: PushSession[];
  /** The last event id the browser saw (Last-Event-ID wins over the query's lastEventId). */
  lastEventId?: string;
}

/** An event id `<epoch>.<n>` as its parts, or undefined when it is not one this gateway could have sent. */
export function parseEventId(id: string): { epoch: string; n: number } | undefined {
  const match = EVENT_ID.exec(id);
  return match ? { epoch: match[1]!, n: Number(match[2]) } : undefined;
}

/** The push route's query (and the Last-Event-ID header), or a sentence saying what is wrong with it. */
export function parsePushQuery(params: URLSearchParams, lastEventIdHeader?: string | string[]): { query: PushQuery } | { problem: string } {
  const unknown = [...params.keys()].find((name) => name !== 'session' && name !== 'lastEventId');
  if (unknown !== undefined) return { problem: `The parameter "${unknown}" is not accepted here; only session and lastEventId are.` };
  const raw = params.getAll('session');
  if (raw.length === 0 || raw.length > MAX_SESSIONS_PER_STREAM) {
    return { problem: `Give 1 to ${MAX_SESSIONS_PER_STREAM} session parameters, each <sessionId>.<channelId>.<pushToken>; got ${raw.length}.` };
  }
  const sessions: PushSession[] = [];
  for (const value of raw) {
    const match = SESSION.exec(value);
    if (!match) return { problem: 'Each session parameter must be <sessionId>.<channelId>.<pushToken>, as the session was created.' };
    sessions.push({ sessionId: match[1]!.toLowerCase(), channelId: match[2]!.toLowerCase(), token: match[3]! });
  }
  const fromQuery = params.getAll('lastEventId');
  if (fromQuery.length > 1) return { problem: 'The lastEventId parameter may be given once.' };
  const header = Array.isArray(lastEventIdHeader) ? lastEventIdHeader[0] : lastEventIdHeader;
  const lastEventId = header !== undefined && header !== '' ? header : fromQuery[0];
  if (lastEventId !== undefined && !EVENT_ID.test(lastEventId))
    return { problem: 'The last event id must be one this gateway sent; leave it out to start afresh.' };
  return { query: lastEventId === undefined ? { sessions } : { sessions, lastEventId } };
}
