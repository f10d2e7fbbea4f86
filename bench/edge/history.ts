/**
 * Long histories for the bench, made fast: ElizaOS 1.7 has no route that creates a
 * memory (memories come only from the agent handling messages, ~0.5 s each, from a
 * budget of 1000 requests per 15 minutes), so 20,000 of them cannot be made through its
 * API within a bench run. Instead the bench starts the embedded ElizaOS once (it seeds
 * its few real conversations), stops it, and writes copies of those memories straight
 * into its PGlite database with one INSERT … SELECT: every column as ElizaOS wrote it,
 * with a new id, an older timestamp and a text of random words (so the answers compress
 * as text does, not as the same sentence repeated). Each size is kept as a template data
 * folder; every bench row starts ElizaOS on a copy of one, so every row starts from the
 * same history. ElizaOS reads them as its own: the memories route returns them all.
 *
 * PGlite is plugin-sql's own dependency, declared here at the version plugin-sql gets
 * so that both share one copy; it is opened with the same extensions, as ElizaOS opens it.
 */
import fs from 'node:fs';
import path from 'node:path';

/** The words of the made-up texts: common English, so gzip finds what it finds in chat. */
const WORDS = (
  'the a to and of in is it you that for on with as are this be at have not was but they what can from or by one all ' +
  'there about your which when will an if do more so no time up out would my how like just people them some server ' +
  'message agent memory tab worker request limit minute second wait answer reply offline cache window budget browser ' +
  'poll queue retry error online again page open close send read write store keep share new old first last next'
).split(' ');

/**
 * The SQL that adds `count` memories, copies of the `messages` memories already there
 * (round-robin), each with a new id, a text of 6 to 35 random words, and a timestamp
 * `spacingS` seconds apart going back from the oldest one.
 */
export function historySql(count: number, spacingS = 30): string {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be a whole number ≥ 0, got ${count}`);
  const words = `ARRAY[${WORDS.map((word) => `'${word}'`).join(',')}]`;
  return `
WITH template AS (
  SELECT m.*, row_number() OVER (ORDER BY created_at) - 1 AS k, count(*) OVER () AS n
  FROM memories m WHERE type = 'messages'
), oldest AS (SELECT min(created_at) AS at FROM memories)
INSERT INTO memories (id, type, created_at, content, entity_id, agent_id, room_id, world_id, "unique", metadata)
SELECT gen_random_uuid(), t.type, (SELECT at FROM oldest) - make_interval(secs => g * ${spacingS}),
  jsonb_set(t.content, '{text}', to_jsonb((
    SELECT string_agg((${words})[1 + floor(random() * ${WORDS.length})::int], ' ')
    FROM generate_series(1, 6 + (g * 7919) % 30)
  ))),
  t.entity_id, t.agent_id, t.room_id, t.world_id, t."unique", t.metadata
FROM generate_series(1, ${count}) AS g
JOIN template t ON t.k = g % t.n`;
}

/** The data folder's PGlite database (see server/eliza/config.ts: `<dataDir>/eliza`). */
export function databaseDir(dataDir: string): string {
  return path.join(dataDir, 'eliza');
}

/** Adds `count` memories to the stopped ElizaOS whose data folder is `dataDir`; returns how many it now holds. */
export async function addHistory(dataDir: string, count: number): Promise<number> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { vector } = await import('@electric-sql/pglite/vector');
  const { fuzzystrmatch } = await import('@electric-sql/pglite/contrib/fuzzystrmatch');
  const db = new PGlite(databaseDir(dataDir), { extensions: { vector, fuzzystrmatch } });
  try {
    await db.waitReady;
    if (count > 0) await db.exec(historySql(count));
    const result = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM memories WHERE type = 'messages'`);
    return result.rows[0]?.n ?? 0;
  } finally {
    await db.close();
  }
}

/** Copies a template data folder to `to` (its database and seed marker; not its log). */
export function copyDataDir(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true, filter: (source) => path.basename(source) !== 'eliza.log' });
}
