/**
 * Reads a browser's POST body before anything is forwarded: JSON only, at most
 * GATEWAY_MAX_BODY_BYTES, and of the shape its route accepts. A body that fails gets
 * 415, 413 or 400 with a sentence, and ElizaOS never sees it.
 */
import type { IncomingMessage } from 'node:http';

export class BodyError extends Error {
  override readonly name = 'BodyError';
  constructor(
    readonly status: 400 | 413 | 415,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const isJsonType = (type: string | undefined): boolean => /^application\/json\s*(;|$)/i.test(type ?? '');

/** The raw body, once it is known to be JSON within the limit; the parsed value beside it. */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<{ raw: Buffer; value: unknown }> {
  if (!isJsonType(req.headers['content-type'])) {
    req.resume();
    throw new BodyError(415, 'UNSUPPORTED_MEDIA_TYPE', 'The gateway accepts only JSON bodies (Content-Type: application/json).');
  }
  const tooLarge = () => new BodyError(413, 'BODY_TOO_LARGE', `The request body is larger than the gateway accepts (${maxBytes} bytes).`);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    throw tooLarge();
  }
  const raw = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      // Keep draining without keeping: the 413 goes out now, and the connection closes after it.
      req.off('data', onData);
      req.resume();
      reject(tooLarge());
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
  try {
    return { raw, value: JSON.parse(raw.toString('utf8')) };
  } catch {
    throw new BodyError(400, 'INVALID_JSON', 'The request body is not valid JSON.');
  }
}
