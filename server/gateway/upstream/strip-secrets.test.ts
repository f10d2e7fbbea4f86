import { describe, expect, it } from 'vitest';
import { parseForBrowser } from './strip-secrets';

const parse = (text: string, isError = false) => parseForBrowser(Buffer.from(text), isError);

describe('parseForBrowser', () => {
  it('gives back the parsed answer untouched when its text can hold no key to drop', () => {
    const answer = { success: true, data: { memories: [{ id: 'm1', content: { text: 'héllo 👋' } }] } };
    expect(parse(JSON.stringify(answer))).toEqual({ value: answer, stripped: false });
  });

  it('drops secrets in any case and at any depth', () => {
    expect(parse('{"data":{"agent":{"settings":{"SeCrEtS":{"KEY":"sk-1"}},"name":"a"}}}')).toEqual({
      value: { data: { agent: { settings: {}, name: 'a' } } },
      stripped: true,
    });
  });

  it('drops a secrets key spelled with \\u escapes, which a search of the text would miss', () => {
    const result = parse('{"settings":{"\\u0073ecrets":{"KEY":"sk-2"}}}');
    expect(result).toEqual({ value: { settings: {} }, stripped: true });
  });

  it('drops the stack of an error answer, and keeps it in a success', () => {
    expect(parse('{"error":{"message":"m","stack":"at x (/srv/a.js:1:1)"}}', true).value).toEqual({ error: { message: 'm' } });
    expect(parse('{"stack":"a word in a memory"}').value).toEqual({ stack: 'a word in a memory' });
  });

  it('throws on text that is not JSON, as JSON.parse does', () => {
    expect(() => parse('<html>')).toThrow(SyntaxError);
  });
});
