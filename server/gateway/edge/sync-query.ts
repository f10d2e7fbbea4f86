/**
 * The sync route's query (server/gateway/edge/sync.ts): which requests are the sync route, and
 * what is wrong with one that is not well formed, as a sentence.
 */
import { isUuid } from '../../../src/shared/ids';
import { CURSOR } from './sync-log';
import type { ChatAsk } from './sync-chat';

export const SYNC_PATH = '/api/purl/sync';

export interface SyncQuery {
  agentId?: string;
  /** The browser's cursor, as sent (checked for form). */
  since?: string;
  /** The open chat's session and how many of its latest messages to bring. */
  chat?: ChatAsk;
}

const SYNC_PARAMETERS = ['agentId', 'since', 'session', 'limit'];

/** The sync route's query, or a sentence saying what is wrong with it. */
export function parseSyncQuery(params: URLSearchParams): { query: SyncQuery } | { problem: string } {
  const names = [...params.keys()];
  const unknown = names.find((name) => !SYNC_PARAMETERS.includes(name));
  if (unknown !== undefined) return { problem: `The parameter "${unknown}" is not accepted here; only agentId, since, session and limit are.` };
  if (new Set(names).size !== names.length) return { problem: 'Each of agentId, since, session and limit may be given once.' };
  const query: SyncQuery = {};
  const agentId = params.get('agentId');
  if (agentId !== null) {
    if (!isUuid(agentId)) return { problem: 'The agentId must be a UUID.' };
    query.agentId = agentId.toLowerCase();
  }
  const since = params.get('since');
  if (since !== null) {
    if (!CURSOR.test(since)) return { problem: 'The since parameter must be a cursor this gateway gave out; leave it out to sync from the start.' };
    query.since = since;
  }
  const session = params.get('session');
  const limit = params.get('limit');
  if ((session === null) !== (limit === null)) return { problem: 'The session and limit parameters go together: give both or neither.' };
  if (session !== null && limit !== null) {
    if (!isUuid(session)) return { problem: 'The session must be a UUID.' };
    if (!/^[1-9][0-9]{0,2}$/.test(limit) || Number(limit) > 100) return { problem: 'The limit must be a whole number from 1 to 100.' };
    query.chat = { session: session.toLowerCase(), limit: Number(limit) };
  }
  return { query };
}
