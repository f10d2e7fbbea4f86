/**
 * One Server-Sent Events stream (https://html.spec.whatwg.org/multipage/server-sent-events.html):
 * its head, its framing, what a browser that does not read gets, and its end.
 *
 * Framing is the spec's: an event is `id:`, `event:` and one `data:` line per line of its data,
 * then a blank line. A line break inside data becomes another `data:` line (EventSource joins
 * them back with `\n`), so data can never end an event early or start another; an id or an
 * event name with a line break or NUL is refused, since it could not be written as one field.
 */

/** What the writer uses of its response (an `http.ServerResponse`). */
export interface SseResponse {
  readonly destroyed: boolean;
  readonly writableLength: number;
  writeHead(status: number, headers: Record<string, string>): unknown;
  write(chunk: string): unknown;
  end(): unknown;
  destroy(): unknown;
  readonly socket?: { setNoDelay(noDelay?: boolean): unknown } | null;
}

export interface SseWriterOptions {
  /** A stream whose browser does not read what it is sent is ended past this many unsent bytes (default 1 MiB). */
  maxUnsentBytes?: number;
}

const FIELD_BREAK = /[\r\n\0]/;
const LINE_BREAK = /\r\n|\r|\n/;

function field(name: string, value: string): string {
  if (FIELD_BREAK.test(value)) throw new RangeError(`SSE: an ${name} may not hold a line break or NUL: ${JSON.stringify(value)}`);
  return value;
}

/** One event as the stream's text. @throws RangeError for an id or event name that cannot be one field. */
export function sseFrame(event: string, data: string, id?: string): string {
  const head = `${id === undefined ? '' : `id: ${field('id', id)}\n`}event: ${field('event', event)}\n`;
  // Most data is JSON (one line): the split is only paid for data with line breaks.
  const body = /[\r\n]/.test(data)
    ? data
        .split(LINE_BREAK)
        .map((line) => `data: ${line}\n`)
        .join('')
    : `data: ${data}\n`;
  return `${head}${body}\n`;
}

/** A comment line (`: text`): ignored by EventSource, it keeps proxies from ending a silent connection. */
export function sseComment(text: string): string {
  return `: ${field('comment', text)}\n\n`;
}

/** Writes one response as an event stream. */
export class SseWriter {
  readonly #res: SseResponse;
  readonly #maxUnsentBytes: number;

  constructor(res: SseResponse, options: SseWriterOptions = {}) {
    this.#res = res;
    this.#maxUnsentBytes = options.maxUnsentBytes ?? 1024 * 1024;
  }

  /** Sends the head and the reconnection delay EventSource waits before it comes back, ms. */
  start(retryMs: number): void {
    this.#res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      // nginx and others buffer answers unless told not to; a buffered event is a late one.
      'X-Accel-Buffering': 'no',
    });
    this.#res.socket?.setNoDelay(true);
    // No blank line: the field belongs to the first event's block.
    this.#write(`retry: ${Math.round(retryMs)}\n`);
  }

  /** Writes one event (see `sseFrame`). */
  send(event: string, data: string, id?: string): void {
    this.#write(sseFrame(event, data, id));
  }

  /** Writes a comment (see `sseComment`). */
  comment(text: string): void {
    this.#write(sseComment(text));
  }

  /** Ends the stream: the browser's EventSource comes back after its retry delay. */
  end(): void {
    this.#res.end();
  }

  /**
   * Writes unless the stream is gone; a browser that lets more than `maxUnsentBytes` pile
   * up is cut off rather than held in memory (it comes back, and is replayed what it missed).
   */
  #write(text: string): void {
    const res = this.#res;
    if (res.destroyed) return;
    if (res.writableLength > this.#maxUnsentBytes) {
      res.destroy();
      return;
    }
    res.write(text);
  }
}
