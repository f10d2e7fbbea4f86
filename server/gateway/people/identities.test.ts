import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../../src/shared/clock';
import { createMemoryIdentities, FRESH_MS, IDENTITY_IDLE_MS, type Identity, parseIdentity } from './identities';

const PERSON = '7f3e2a10-0000-4000-8000-000000000001';
const key = (n: number) => `k${String(n).padStart(42, '0')}`;
const identity = (at: number, id = PERSON): Identity => ({ person: { id, signIn: 'device' }, createdAt: at, seenAt: at, confirmed: true });

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});
const tempFile = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-people-'));
  dirs.push(dir);
  return path.join(dir, 'people.json');
};

describe('the identities a gateway keeps', () => {
  it('finds what it keeps, forgets what it is told to, and the least recently kept past its bound', async () => {
    const store = createMemoryIdentities({ clock: manualClock(), maxEntries: 2 });
    await store.keep(key(1), identity(0));
    await store.keep(key(2), identity(0));
    // Kept again: the most recent now.
    await store.keep(key(1), identity(0));
    await store.keep(key(3), identity(0));
    expect(await store.find(key(2))).toBeUndefined();
    expect(await store.find(key(1))).toEqual(identity(0));
    await store.forget(key(1));
    expect(await store.find(key(1))).toBeUndefined();
    expect(store.size()).toBe(1);
  });

  it('keeps fresh identities (whose browser has not come back) apart, briefly, and never in its file: a flood of them crowds out no one', async () => {
    const file = tempFile();
    const clock = manualClock();
    const store = createMemoryIdentities({ clock, file, maxEntries: 2, maxFresh: 2 });
    await store.keep(key(1), identity(0));
    for (let n = 10; n < 20; n++) await store.keep(key(n), { ...identity(0), confirmed: false });
    expect(await store.find(key(1))).toEqual(identity(0));
    expect(await store.find(key(10))).toBeUndefined();
    expect(await store.find(key(19))).toMatchObject({ confirmed: false });
    // Confirmed: kept as people are.
    await store.keep(key(19), identity(0));
    clock.advance(FRESH_MS);
    expect(await store.find(key(18))).toBeUndefined();
    expect(await store.find(key(19))).toEqual(identity(0));
    store.close();
    expect(Object.keys(JSON.parse(fs.readFileSync(file, 'utf8')).identities).sort()).toEqual([key(1), key(19)]);
  });

  it('forgets an identity unused for as long as a browser keeps its cookie', async () => {
    const clock = manualClock();
    const store = createMemoryIdentities({ clock });
    await store.keep(key(1), identity(clock.now()));
    clock.advance(IDENTITY_IDLE_MS - 1);
    expect(await store.find(key(1))).toBeDefined();
    clock.advance(1);
    expect(await store.find(key(1))).toBeUndefined();
  });

  it('keeps them across a restart in its file, written once a burst of changes is over, mode 0600', async () => {
    const file = tempFile();
    const clock = manualClock();
    const first = createMemoryIdentities({ clock, file, writeAfterMs: 1_000 });
    await first.keep(key(1), identity(5));
    await first.keep(key(2), identity(6, '7f3e2a10-0000-4000-8000-000000000002'));
    expect(fs.existsSync(file)).toBe(false);
    clock.advance(1_000);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    await first.forget(key(2));
    // Closing writes what waits.
    first.close();
    const second = createMemoryIdentities({ clock, file });
    expect(await second.find(key(1))).toEqual(identity(5));
    expect(await second.find(key(2))).toBeUndefined();
    expect(fs.readdirSync(path.dirname(file))).toEqual(['people.json']);
  });

  it('shares its file with another gateway on the same data dir: each write keeps what the other wrote, less what this one forgot', async () => {
    const file = tempFile();
    const clock = manualClock();
    const one = createMemoryIdentities({ clock, file });
    const other = createMemoryIdentities({ clock, file });
    await one.keep(key(1), identity(1));
    await other.keep(key(2), identity(2));
    clock.advance(1_000);
    await one.forget(key(1));
    await one.keep(key(3), identity(3));
    clock.advance(1_000);
    const after = createMemoryIdentities({ clock, file });
    expect(await after.find(key(1))).toBeUndefined();
    expect(await after.find(key(2))).toEqual(identity(2));
    expect(await after.find(key(3))).toEqual(identity(3));
  });

  it('keeps only well-formed identities from its file, and sets a file that is not its own aside with a sentence', async () => {
    const file = tempFile();
    fs.writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        identities: {
          [key(1)]: identity(5),
          [key(2)]: { person: { id: 'not-a-uuid', signIn: 'device' }, createdAt: 1, seenAt: 1, confirmed: true },
          [key(3)]: { person: { id: PERSON, signIn: 'root' }, createdAt: 1, seenAt: 1, confirmed: true },
          short: identity(5),
        },
      }),
    );
    const store = createMemoryIdentities({ clock: manualClock(), file });
    expect(store.size()).toBe(1);
    fs.writeFileSync(file, '{"identities": oops');
    const lines: string[] = [];
    const damaged = createMemoryIdentities({ clock: manualClock(), file, log: (line) => lines.push(line) });
    expect(damaged.size()).toBe(0);
    expect(lines).toEqual([`The identities in ${file} are not Purl's (kept as people.json.damaged): everyone signs in anew.`]);
    expect(fs.readFileSync(`${file}.damaged`, 'utf8')).toBe('{"identities": oops');
  });

  it('checks a stored identity field by field', () => {
    expect(parseIdentity(identity(1))).toEqual(identity(1));
    expect(parseIdentity({ ...identity(1), person: { id: PERSON.toUpperCase(), signIn: 'device' } })?.person.id).toBe(PERSON);
    for (const bad of [null, 'x', { ...identity(1), createdAt: -1 }, { ...identity(1), seenAt: Number.NaN }, { ...identity(1), confirmed: 'yes' }]) {
      expect(parseIdentity(bad)).toBeUndefined();
    }
  });
});
