import { describe, expect, it } from 'vitest';
import { type SseResponse, SseWriter, sseComment, sseFrame } from './sse';

/** A response that keeps what is written, and holds `unsent` bytes as if the browser did not read. */
class FakeResponse implements SseResponse {
  written: string[] = [];
  head: [number, Record<string, string>] | undefined;
  destroyed = false;
  ended = false;
  unsent = 0;
  noDelay = false;
  readonly socket = { setNoDelay: (noDelay?: boolean) => (this.noDelay = noDelay ?? true) };
  get writableLength() {
    return this.unsent;
  }
  writeHead(status: number, headers: Record<string, string>) {
    this.head = [status, headers];
  }
  write(chunk: string) {
    this.written.push(chunk);
  }
  end() {
    this.ended = true;
  }
  destroy() {
    this.destroyed = true;
  }
}

/** What EventSource makes of a stream's text (the spec's parsing, for the fields used here). */
function parse(text: string): { id?: string; event: string; data: string }[] {
  const events: { id?: string; event: string; data: string }[] = [];
  for (const block of text.split('\n\n').filter((block) => block !== '')) {
    const event: { id?: string; event: string; data: string[] } = { event: 'message', data: [] };
    for (const line of block.split('\n')) {
      const colon = line.indexOf(':');
      if (colon === 0) continue;
      const [name, value] = [line.slice(0, colon), line.slice(colon + 2)];
      if (name === 'id') event.id = value;
      if (name === 'event') event.event = value;
      if (name === 'data') event.data.push(value);
    }
    if (event.data.length > 0) events.push({ ...(event.id === undefined ? {} : { id: event.id }), event: event.event, data: event.data.join('\n') });
  }
  return events;
}

describe('SSE framing', () => {
  it('writes id, event and data lines and a blank line; no id line without an id', () => {
    expect(sseFrame('message', '{"a":1}', '0123456789ab.7')).toBe('id: 0123456789ab.7\nevent: message\ndata: {"a":1}\n\n');
    expect(sseFrame('reset', '{"sessionIds":[]}')).toBe('event: reset\ndata: {"sessionIds":[]}\n\n');
  });

  it('writes data of many lines as many data lines, so it cannot end the event or start another', () => {
    const hostile = 'line one\n\nevent: reset\ndata: {"sessionIds":["x"]}\r\nid: 1\rlast';
    const text = sseFrame('message', hostile, 'a.1');
    expect(text).toBe('id: a.1\nevent: message\ndata: line one\ndata: \ndata: event: reset\ndata: data: {"sessionIds":["x"]}\ndata: id: 1\ndata: last\n\n');
    expect(parse(text)).toEqual([{ id: 'a.1', event: 'message', data: hostile.replace(/\r\n|\r/g, '\n') }]);
  });

  it.each([
    ['an id with a line break', () => sseFrame('message', '{}', 'a.1\n\nevent: reset')],
    ['an id with a carriage return', () => sseFrame('message', '{}', 'a.1\rdata: x')],
    ['an id with NUL', () => sseFrame('message', '{}', 'a\u00001')],
    ['an event name with a line break', () => sseFrame('message\ndata: x', '{}')],
    ['a comment with a line break', () => sseComment('keep-alive\n\nevent: reset')],
  ])('refuses %s', (_name, write) => {
    expect(write).toThrowError(RangeError);
  });

  it('writes a comment EventSource ignores', () => {
    expect(sseComment('keep-alive')).toBe(': keep-alive\n\n');
    expect(parse(`${sseComment('keep-alive')}${sseFrame('hello', '{}')}`)).toEqual([{ event: 'hello', data: '{}' }]);
  });
});

describe('the SSE writer', () => {
  it('starts with the event-stream head, no delay, and the retry field in the first event’s block', () => {
    const res = new FakeResponse();
    const writer = new SseWriter(res);
    writer.start(1_000);
    writer.send('hello', '{"epoch":"e"}', 'e.0');
    expect(res.head).toEqual([200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' }]);
    expect(res.noDelay).toBe(true);
    expect(res.written.join('')).toBe('retry: 1000\nid: e.0\nevent: hello\ndata: {"epoch":"e"}\n\n');
    writer.end();
    expect(res.ended).toBe(true);
  });

  it('cuts off a browser that lets more than maxUnsentBytes pile up, and writes nothing more to it', () => {
    const res = new FakeResponse();
    const writer = new SseWriter(res, { maxUnsentBytes: 100 });
    writer.send('message', 'x');
    res.unsent = 100;
    writer.comment('keep-alive');
    expect([res.written.length, res.destroyed]).toEqual([2, false]);
    res.unsent = 101;
    writer.send('message', 'y');
    expect(res.destroyed).toBe(true);
    writer.send('message', 'z');
    expect(res.written).toHaveLength(2);
  });

  it('writes nothing to a response already gone', () => {
    const res = new FakeResponse();
    res.destroyed = true;
    new SseWriter(res).send('message', 'x');
    expect(res.written).toEqual([]);
  });
});
