import { describe, expect, it } from 'vitest';
import { createUpstreamBudget } from '../budget/upstream-budget';
import type { UpstreamRead } from '../upstream/client';
import { createEdge, type EdgeRequest } from './edge';

const request: EdgeRequest = { path: '/api/agents', client: 'c-1', check: () => undefined };
const open = () => new AbortController().signal;

/** An edge in front of a scripted upstream, on a clock the test moves. */
function edgeOnFakeClock(answers: UpstreamRead[]) {
  const clock = { at: 1_000_000 };
  const asked: (string | undefined)[] = [];
  const edge = createEdge({
    ttlMs: 1_000,
    maxBytes: 10_000,
    budget: createUpstreamBudget(),
    now: () => clock.at,
    read: async (_path, _client, ifNoneMatch) => {
      asked.push(ifNoneMatch);
      return answers.shift() ?? { kind: 'failed', status: 502, code: 'UPSTREAM_UNAVAILABLE', message: 'Down.' };
    },
  });
  return { edge, clock, asked };
}

const agents = (etag: string): UpstreamRead => ({
  kind: 'answer',
  status: 200,
  headers: { 'content-type': 'application/json', etag },
  body: Buffer.from('{"success":true,"data":{"agents":[]}}'),
});

describe('the edge on a fake clock', () => {
  it('reads once per window, then asks upstream conditionally and re-stamps its copy on a 304', async () => {
    const notModified: UpstreamRead = { kind: 'answer', status: 304, headers: {}, body: Buffer.alloc(0) };
    const { edge, clock, asked } = edgeOnFakeClock([agents('"up-1"'), notModified]);
    const first = await edge.read(request, 1_000, open());
    expect(first).toMatchObject({ kind: 'kept', entry: { storedAt: 1_000_000 }, value: { success: true } });
    clock.at += 999;
    expect(await edge.read(request, 1_000, open())).toMatchObject({ kind: 'kept', entry: { storedAt: 1_000_000 } });
    expect(asked).toEqual([undefined]);
    clock.at += 1;
    const again = await edge.read(request, 1_000, open());
    expect(asked).toEqual([undefined, '"up-1"']);
    expect(again.kind === 'kept' && again.entry).toBe(first.kind === 'kept' && first.entry);
    expect(again).toMatchObject({ entry: { storedAt: 1_001_000 } });
    expect(edge.stats()).toMatchObject({ entries: 1, hits: 1, misses: 2, upstreamReads: 2, upstreamNotModified: 1, coalesced: 0 });
  });

  it('shares one read among the asks made meanwhile', async () => {
    const { edge, asked } = edgeOnFakeClock([agents('"up-1"')]);
    const [one, two] = await Promise.all([edge.read(request, 1_000, open()), edge.read(request, 1_000, open())]);
    expect(one).toEqual(two);
    expect(asked).toHaveLength(1);
    expect(edge.stats()).toMatchObject({ misses: 2, coalesced: 1, upstreamReads: 1 });
  });

  it('gives a failed read to its askers and keeps nothing', async () => {
    const { edge } = edgeOnFakeClock([]);
    expect(await edge.read(request, 1_000, open())).toMatchObject({ kind: 'failed', status: 502 });
    expect(edge.stats()).toMatchObject({ entries: 0, bytes: 0 });
  });
});
