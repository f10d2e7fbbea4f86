import { describe, expect, it } from 'vitest';
import { isRecord, isUuid, UUID_SEGMENT } from './ids';

const AGENT = '40608b6b-63b6-0e2c-b819-9d9850d060ec';

describe('isUuid', () => {
  it('accepts a canonical UUID of any version, in either case, as ElizaOS does', () => {
    expect(isUuid(AGENT)).toBe(true);
    expect(isUuid(AGENT.toUpperCase())).toBe(true);
    expect(isUuid('00000000-0000-0000-0000-000000000000')).toBe(true);
    expect(isUuid('11111111-1111-4111-8111-111111111111')).toBe(true);
  });

  it('refuses anything else: other shapes, surrounding text, braces, non-strings', () => {
    for (const value of [
      '',
      'x',
      AGENT.slice(1),
      `${AGENT}0`,
      AGENT.replaceAll('-', ''),
      `{${AGENT}}`,
      ` ${AGENT}`,
      `${AGENT}\n`,
      `../${AGENT}`,
      'g0608b6b-63b6-0e2c-b819-9d9850d060ec',
      undefined,
      null,
      42,
      [AGENT],
      { id: AGENT },
    ]) {
      expect(isUuid(value), String(value)).toBe(false);
    }
  });
});

describe('UUID_SEGMENT', () => {
  it('captures one UUID inside a route pattern, and nothing that is not one', () => {
    const route = new RegExp(`^/api/agents/${UUID_SEGMENT}/memories$`);
    expect(route.exec(`/api/agents/${AGENT}/memories`)?.[1]).toBe(AGENT);
    expect(route.exec(`/api/agents/${AGENT.toUpperCase()}/memories`)?.[1]).toBe(AGENT.toUpperCase());
    expect(route.test('/api/agents/../memories')).toBe(false);
    expect(route.test(`/api/agents/${AGENT}x/memories`)).toBe(false);
  });
});

describe('isRecord', () => {
  it('is true for plain objects only', () => {
    expect(isRecord({})).toBe(true);
    expect(isRecord({ a: 1 })).toBe(true);
    expect(isRecord(Object.create(null))).toBe(true);
    for (const value of [null, undefined, [], [1], 'x', 1, true]) expect(isRecord(value), String(value)).toBe(false);
  });
});
