/**
 * The checks the route table (server/gateway/routes.ts) declares for what a browser sends
 * ElizaOS: the bodies the app posts and the query values it sends, each a sentence when
 * something is wrong.
 */
import { MAX_MESSAGE_LENGTH } from '../../../src/shared/api';
import { MAX_METADATA_BYTES } from '../../../src/shared/limits';
import { isRecord, isUuid } from '../../../src/shared/ids';

export { UUID_SEGMENT } from '../../../src/shared/ids';

/** Fields a body may hold, and nothing else. */
function onlyFields(body: Record<string, unknown>, allowed: readonly string[]): string | undefined {
  const extra = Object.keys(body).find((key) => !allowed.includes(key));
  return extra === undefined ? undefined : `The field "${extra}" is not accepted here.`;
}

function checkMetadata(metadata: unknown): string | undefined {
  if (metadata === undefined) return undefined;
  if (!isRecord(metadata)) return 'metadata must be an object.';
  if (Buffer.byteLength(JSON.stringify(metadata)) > MAX_METADATA_BYTES) return `metadata must be at most ${MAX_METADATA_BYTES} bytes as JSON.`;
  return undefined;
}

export function checkNewSession(body: unknown): string | undefined {
  if (!isRecord(body)) return 'The body must be a JSON object.';
  const extra = onlyFields(body, ['agentId', 'userId', 'metadata']);
  if (extra) return extra;
  if (typeof body['agentId'] !== 'string' || !isUuid(body['agentId'])) return 'agentId must be a UUID.';
  // Whose session it is comes from the gateway's identity of the asker: a userId sent here is replaced.
  if (body['userId'] !== undefined && (typeof body['userId'] !== 'string' || !isUuid(body['userId']))) return 'userId must be a UUID.';
  return checkMetadata(body['metadata']);
}

export function checkNewMessage(body: unknown): string | undefined {
  if (!isRecord(body)) return 'The body must be a JSON object.';
  const extra = onlyFields(body, ['content', 'metadata']);
  if (extra) return extra;
  const content = body['content'];
  if (typeof content !== 'string' || content.trim() === '') return 'content must be a non-empty string.';
  if (content.length > MAX_MESSAGE_LENGTH) return `A message may be at most ${MAX_MESSAGE_LENGTH} characters long; this one has ${content.length}.`;
  return checkMetadata(body['metadata']);
}

export const exactly =
  (expected: string) =>
  (value: string): boolean =>
    value === expected;

export const wholeNumberIn =
  (min: number, max: number) =>
  (value: string): boolean =>
    /^\d{1,6}$/.test(value) && Number(value) >= min && Number(value) <= max;
