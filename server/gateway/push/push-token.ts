/**
 * Push tokens (docs/push.md, "Tokens"): only the browser that made a session may hear it.
 *
 * The gateway adds `pushToken` to the answer of `POST /api/messaging/sessions`:
 * base64url(HMAC-SHA256(key, "purl-push:v1:" + sessionId + ":" + channelId)). Nothing is
 * kept per session: a token is checked by minting it again. The key is PURL_PUSH_SECRET,
 * or 32 random bytes kept in `<PURL_DATA_DIR>/push-secret`, so tokens outlive a restart.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isRecord } from '../../../src/shared/ids';

/** base64url of a SHA-256 HMAC, without padding. */
export const PUSH_TOKEN_LENGTH = 43;
/** The shortest PURL_PUSH_SECRET accepted: as many characters as the kept key has bytes. */
export const MIN_PUSH_SECRET_LENGTH = 32;
const KEY_FILE = 'push-secret';
const KEY_BYTES = 32;

/** Ids are UUIDs, which ElizaOS writes in lower case: a token does not depend on their case. */
const message = (sessionId: string, channelId: string) => `purl-push:v1:${sessionId.toLowerCase()}:${channelId.toLowerCase()}`;

export function mintPushToken(key: Buffer, sessionId: string, channelId: string): string {
  return createHmac('sha256', key).update(message(sessionId, channelId)).digest('base64url');
}

/** True when `token` is the one minted for this session and channel; compared in constant time. */
export function isPushToken(key: Buffer, sessionId: string, channelId: string, token: string): boolean {
  const expected = Buffer.from(mintPushToken(key, sessionId, channelId));
  const given = Buffer.from(token);
  // timingSafeEqual throws on different lengths; the length of a token is no secret.
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * The create-session answer with its `pushToken`, or undefined when it is not a new
 * session's answer (an error, or a body without string `sessionId` and `channelId`).
 */
export function withPushToken(key: Buffer, status: number, body: unknown): Record<string, unknown> | undefined {
  if (status !== 201 || !isRecord(body)) return undefined;
  const { sessionId, channelId } = body;
  if (typeof sessionId !== 'string' || typeof channelId !== 'string') return undefined;
  return { ...body, pushToken: mintPushToken(key, sessionId, channelId) };
}

/** A start-up problem with the key, as the sentence the gateway stops with. */
export class PushKeyError extends Error {
  override readonly name = 'PushKeyError';
}

/**
 * The key tokens are made with: PURL_PUSH_SECRET when set, else the key kept in
 * `dataDir/push-secret`, made (mode 0600) when missing.
 */
export function readPushKey(secret: string | undefined, dataDir: string): Buffer {
  if (secret !== undefined && secret !== '') {
    if (secret.length < MIN_PUSH_SECRET_LENGTH) {
      throw new PushKeyError(`PURL_PUSH_SECRET must be at least ${MIN_PUSH_SECRET_LENGTH} characters long; it has ${secret.length}.`);
    }
    return Buffer.from(secret, 'utf8');
  }
  const file = path.join(dataDir, KEY_FILE);
  let kept: Buffer;
  try {
    kept = fs.readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new PushKeyError(`The push key in ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unreadable'}).`);
    }
    return makeKey(file);
  }
  if (kept.length !== KEY_BYTES) {
    throw new PushKeyError(
      `The push key in ${file} should be ${KEY_BYTES} bytes and has ${kept.length}: delete the file to make a new one (open push streams then resubscribe).`,
    );
  }
  return kept;
}

function makeKey(file: string): Buffer {
  const key = randomBytes(KEY_BYTES);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // `wx`: two gateways starting at once do not overwrite each other's key.
    fs.writeFileSync(file, key, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readPushKey(undefined, path.dirname(file));
    throw new PushKeyError(
      `The push key cannot be kept in ${file} (${(error as NodeJS.ErrnoException).code ?? 'unwritable'}); set PURL_PUSH_SECRET or PURL_DATA_DIR.`,
    );
  }
}
