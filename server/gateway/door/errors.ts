/**
 * The gateway's own answers: JSON in ElizaOS's error shape, with a sentence a person can
 * read, never cached.
 */
import type { ServerResponse } from 'node:http';

export function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  // The browser already left: there is nobody to tell.
  if (res.destroyed) return;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ success: false, error: { code, message } });
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}
