import { PGlite } from '@electric-sql/pglite';
import { describe, expect, it } from 'vitest';
import { historySql } from './history';

describe('a long history written into the database', () => {
  it('adds copies of the memories there, each with a new id, an older time and a text of its own', async () => {
    const db = new PGlite();
    try {
      // The columns of plugin-sql's memories table that the statement names.
      await db.exec(`CREATE TABLE memories (id uuid PRIMARY KEY, type text, created_at timestamp, content jsonb, entity_id uuid, agent_id uuid,
        room_id uuid, world_id uuid, "unique" boolean, metadata jsonb);
        INSERT INTO memories VALUES
          ('00000000-0000-4000-8000-000000000001', 'messages', '2026-11-29 10:00', '{"text":"hello","source":"user"}', gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), null, true, '{}'),
          ('00000000-0000-4000-8000-000000000002', 'messages', '2026-11-29 10:01', '{"text":"hi back","actions":["REPLY"]}', gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), null, true, '{}')`);
      await db.exec(historySql(500));
      const { rows } = await db.query<{ n: number; texts: number; newest: string; kinds: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT content->>'text')::int AS texts, max(created_at)::text AS newest,
          count(DISTINCT content ? 'actions')::int AS kinds FROM memories WHERE id::text NOT LIKE '00000000-%'`,
      );
      expect(rows[0]!.n).toBe(500);
      // Random words: nearly every text differs, so the answers do not compress as one sentence repeated.
      expect(rows[0]!.texts).toBeGreaterThan(450);
      expect(rows[0]!.newest < '2026-11-29 10:00').toBe(true);
      // Copies of both the user's and the agent's memories.
      expect(rows[0]!.kinds).toBe(2);
    } finally {
      await db.close();
    }
    // PGlite starts a WebAssembly Postgres: seconds on a busy machine.
  }, 60_000);

  it('refuses a count that is not a whole number', () => {
    expect(() => historySql(-1)).toThrow(RangeError);
    expect(() => historySql(1.5)).toThrow(RangeError);
  });
});
