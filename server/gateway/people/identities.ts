/**
 * Who holds which identity cookie: the gateway's side of a person's sign-in. The cookie
 * carries an opaque random token; what it stands for (the person, since when) is kept
 * here, under the token's SHA-256, so a copy of the store gives no one a cookie. Kept in
 * memory, bounded (the least recently used go first) and forgotten after a long while
 * unused; with a file (`<PURL_DATA_DIR>/people.json`) it outlives a restart; with Redis
 * (server/gateway/redis/shared-identities.ts) every instance of a cluster knows it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isRecord, isUuid } from '../../../src/shared/ids';
import type { Clock } from '../../../src/shared/clock';

/** How a person signed in (PURL_AUTH). */
export type SignIn = 'device';

export interface Person {
  /** The person's id: a UUID, and their userId at ElizaOS (the author of their messages, the owner of their chats). */
  id: string;
  signIn: SignIn;
}

export interface Identity {
  person: Person;
  /** Epoch ms the identity was made. */
  createdAt: number;
  /** Epoch ms it was last noted as used (at most once a day: see SEEN_EVERY_MS). */
  seenAt: number;
  /**
   * The browser came back with its cookie. Until then the identity is fresh: kept apart and
   * briefly (FRESH_MS, at most `maxFresh`), so cookies handed to clients that never return
   * (curl in a loop) cannot crowd out the people who do.
   */
  confirmed: boolean;
}

/** The store of identities by key (the token's hash). Lookups never reject: a store that cannot answer knows no one. */
export interface IdentityStore {
  find(key: string): Promise<Identity | undefined>;
  keep(key: string, identity: Identity): Promise<void>;
  forget(key: string): Promise<void>;
  size(): number;
  /** Writes what is not yet written (the file), and stops. */
  close(): void;
}

/** An identity unused this long is forgotten: the cookie's own life (browsers keep a cookie 400 days at most). */
export const IDENTITY_IDLE_MS = 400 * 24 * 60 * 60_000;
/** How long a fresh identity (one its browser has not come back with) is kept. */
export const FRESH_MS = 24 * 60 * 60_000;
/** How often a used identity's `seenAt` is noted (and its cookie renewed): no write per request. */
export const SEEN_EVERY_MS = 24 * 60 * 60_000;
const KEY = /^[A-Za-z0-9_-]{43}$/;
const SIGN_INS: readonly SignIn[] = ['device'];

const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;

/** A stored identity, checked (from the file or Redis); undefined for anything else. */
export function parseIdentity(value: unknown): Identity | undefined {
  if (!isRecord(value) || !isRecord(value['person'])) return undefined;
  const { id, signIn } = value['person'];
  if (!isUuid(id) || !SIGN_INS.includes(signIn as SignIn)) return undefined;
  const { createdAt, seenAt, confirmed } = value;
  if (!isTime(createdAt) || !isTime(seenAt) || typeof confirmed !== 'boolean') return undefined;
  return { person: { id: id.toLowerCase(), signIn: signIn as SignIn }, createdAt, seenAt, confirmed };
}

export const isIdentityKey = (key: string): boolean => KEY.test(key);

export interface MemoryIdentitiesOptions {
  clock: Pick<Clock, 'now' | 'setTimer'>;
  /** The most confirmed identities kept (default 200 000). */
  maxEntries?: number;
  /** The most fresh ones kept (default 20 000); they are never written to the file. */
  maxFresh?: number;
  /** Where they are kept across restarts; without it, in memory only. */
  file?: string;
  /** How long after a change the file is written, ms (default 1 s: one write for a burst of sign-ins). */
  writeAfterMs?: number;
  /** Where a file that cannot be read or written is said (default the console). */
  log?: (line: string) => void;
}

/** The identities a file holds, checked, least recently seen first; undefined when it is not a file of Purl's. */
function entriesOf(raw: string): Array<[string, Identity]> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!isRecord(parsed) || parsed['version'] !== 1 || !isRecord(parsed['identities'])) return undefined;
  const kept: Array<[string, Identity]> = [];
  for (const [key, value] of Object.entries(parsed['identities'])) {
    const identity = parseIdentity(value);
    if (isIdentityKey(key) && identity) kept.push([key, identity]);
  }
  return kept.sort(([, a], [, b]) => a.seenAt - b.seenAt);
}

/** The file's text; undefined when there is none yet. */
function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Reads the file's identities at start; a missing file is none, a damaged one is said and set aside. */
function readFile(file: string, log: (line: string) => void): Array<[string, Identity]> {
  let raw: string | undefined;
  try {
    raw = readText(file);
  } catch (error) {
    log(`The identities in ${file} cannot be read (${(error as NodeJS.ErrnoException).code}): everyone signs in anew.`);
    return [];
  }
  if (raw === undefined) return [];
  const entries = entriesOf(raw);
  if (entries) return entries;
  log(`The identities in ${file} are not Purl's (kept as ${path.basename(file)}.damaged): everyone signs in anew.`);
  fs.renameSync(file, `${file}.damaged`);
  return [];
}

/**
 * Writes the identities: over what the file holds now (another gateway on the same data dir
 * may have written since), less what this one forgot, within `maxEntries`; to a file beside it,
 * then renamed over it (a crash leaves the old file or the new, never half).
 */
function writeFile(file: string, identities: ReadonlyMap<string, Identity>, forgotten: ReadonlySet<string>, maxEntries: number): void {
  const merged = new Map(entriesOf(readText(file) ?? '') ?? []);
  for (const key of forgotten) merged.delete(key);
  for (const [key, identity] of identities) merged.set(key, identity);
  const newest = [...merged].sort(([, a], [, b]) => b.seenAt - a.seenAt).slice(0, maxEntries);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const partial = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(partial, JSON.stringify({ version: 1, identities: Object.fromEntries(newest) }), { mode: 0o600 });
  fs.renameSync(partial, file);
}

/** The identities in memory (and, with `file`, on disk). */
export function createMemoryIdentities(options: MemoryIdentitiesOptions): IdentityStore {
  const { clock, file } = options;
  const maxEntries = options.maxEntries ?? 200_000;
  const log = options.log ?? ((line: string) => console.log(`purl: ${line}`));
  /** Least recently kept first (a Map keeps insertion order). */
  const identities = new Map<string, Identity>(file ? readFile(file, log).slice(-maxEntries) : []);
  const maxFresh = options.maxFresh ?? 20_000;
  /** The fresh identities, least recently made first: in memory only. */
  const fresh = new Map<string, Identity>();
  /** Forgotten since the file was last written: taken out of it then. */
  const forgotten = new Set<string>();
  const write = file
    ? createWriter(file, clock, options.writeAfterMs ?? 1_000, log, () => {
        writeFile(file, identities, forgotten, maxEntries);
        forgotten.clear();
      })
    : undefined;
  const drop = (key: string) => {
    fresh.delete(key);
    if (!identities.delete(key)) return;
    forgotten.add(key);
    write?.soon();
  };

  const isIdle = (identity: Identity) => clock.now() - identity.seenAt >= (identity.confirmed ? IDENTITY_IDLE_MS : FRESH_MS);
  function keepFresh(key: string, identity: Identity): void {
    fresh.delete(key);
    fresh.set(key, identity);
    for (const [oldest, kept] of fresh) {
      if (fresh.size <= maxFresh && !isIdle(kept)) break;
      fresh.delete(oldest);
    }
  }
  return {
    async find(key) {
      const identity = identities.get(key) ?? fresh.get(key);
      if (!identity || !isIdle(identity)) return identity;
      drop(key);
      return undefined;
    },
    async keep(key, identity) {
      if (!identity.confirmed) return keepFresh(key, identity);
      fresh.delete(key);
      identities.delete(key);
      identities.set(key, identity);
      forgotten.delete(key);
      for (const [oldest, kept] of identities) {
        if (identities.size <= maxEntries && !isIdle(kept)) break;
        drop(oldest);
      }
      write?.soon();
    },
    async forget(key) {
      drop(key);
    },
    size: () => identities.size + fresh.size,
    close: () => write?.flush(),
  };
}

/** Writes the file once after a burst of changes, and at once on close (if a change waits). */
function createWriter(file: string, clock: Pick<Clock, 'setTimer'>, afterMs: number, log: (line: string) => void, write: () => void) {
  let cancel: (() => void) | undefined;
  const now = () => {
    cancel?.();
    cancel = undefined;
    try {
      write();
    } catch (error) {
      log(`The identities cannot be kept in ${file} (${(error as NodeJS.ErrnoException).code ?? 'unwritable'}): a restart signs everyone in anew.`);
    }
  };
  return {
    flush() {
      if (cancel) now();
    },
    soon() {
      cancel ??= clock.setTimer(now, afterMs);
    },
  };
}
