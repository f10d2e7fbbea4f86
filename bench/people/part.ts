/**
 * `npm run bench:people`: what the people steps (the identity cookie looked up, each named
 * session's owner checked) cost the gateway per request, against the same gateway without
 * them (one fixed person, every session theirs: the door as it was before people), in the
 * same run. Both gateways are in this process, in front of one stand-in ElizaOS that answers
 * at once, so the figures are the gateway's own work; the client's work is in both alike.
 * Rounds alternate between the two so the machine's noise falls on both.
 *
 * Per request kind (a chat read, a message posted, a sync with the chat): CPU µs per request
 * (process.cpuUsage, the client's share included alike) and the ratio with ÷ without.
 * `-- --smoke` runs a few hundred requests and checks that every answer was right.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import type { Gateway } from '../../server/gateway/app';
import {
  type Answer,
  ask,
  gatewayFor,
  jsonAnswer,
  makeDist,
  OWNS_ALL,
  realPeople,
  type StandIn,
  startStandIn,
  TEST_PEOPLE,
} from '../../server/gateway/test-kit';

const AGENT = '2a6e1e0c-4b7f-4c55-9c1a-1f0e0a7b3c11';

/** ElizaOS's answers, at once: sessions made for the userId asked, their messages, an empty agent list and memories. */
function answers(upstream: StandIn): Answer {
  return (req, res) => {
    const url = req.url ?? '/';
    if (req.method === 'POST' && url === '/api/messaging/sessions') {
      const { userId } = JSON.parse(upstream.seen.at(-1)?.body ?? '{}') as { userId?: string };
      return jsonAnswer(201, { sessionId: randomUUID(), channelId: randomUUID(), agentId: AGENT, userId, createdAt: 1, expiresAt: 2 })(req, res);
    }
    if (req.method === 'POST')
      return jsonAnswer(201, { success: true, userMessage: { id: randomUUID(), channel_id: randomUUID(), author_id: randomUUID() } })(req, res);
    if (url.includes('/messages')) return jsonAnswer(200, { messages: [], hasMore: false })(req, res);
    if (url === '/api/agents') return jsonAnswer(200, { success: true, data: { agents: [] } })(req, res);
    return jsonAnswer(200, { success: true, data: { memories: [] } })(req, res);
  };
}

interface Side {
  name: string;
  gateway: Gateway;
  cookie: string;
  sessionId: string;
}

async function side(name: string, gateway: Gateway): Promise<Side> {
  // The first request is given the identity (with people on); the next confirms it.
  const first = await ask(gateway.url, '/api/purl/sync');
  const cookie = first.headers['set-cookie']?.[0]?.split(';')[0] ?? '';
  const made = await ask(gateway.url, '/api/messaging/sessions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', cookie },
    body: JSON.stringify({ agentId: AGENT }),
  });
  if (made.status !== 201) throw new Error(`${name}: the session was not made (${made.status})`);
  return { name, gateway, cookie, sessionId: (made.json() as { sessionId: string }).sessionId };
}

const KINDS = {
  'chat read': (s: Side) => ask(s.gateway.url, `/api/messaging/sessions/${s.sessionId}/messages?limit=50`, { headers: { cookie: s.cookie } }),
  'message posted': (s: Side) =>
    ask(s.gateway.url, `/api/messaging/sessions/${s.sessionId}/messages`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', cookie: s.cookie },
      body: JSON.stringify({ content: 'hello' }),
    }),
  'sync with the chat': (s: Side) => ask(s.gateway.url, `/api/purl/sync?session=${s.sessionId}&limit=50`, { headers: { cookie: s.cookie } }),
} as const;

async function run(s: Side, kind: keyof typeof KINDS, perRound: number): Promise<number> {
  const started = process.cpuUsage();
  for (let i = 0; i < perRound; i++) {
    const answer = await KINDS[kind](s);
    if (answer.status >= 300) throw new Error(`${s.name}, ${kind}: ${answer.status} ${answer.body}`);
  }
  const used = process.cpuUsage(started);
  return (used.user + used.system) / perRound;
}

/** Runs the bench (tiny with `smoke`), saying its progress; returns its table (Markdown). */
export async function benchPeople(smoke: boolean, say: (line: string) => void): Promise<string> {
  const rounds = smoke ? 2 : 6;
  const perRound = smoke ? 50 : 1_000;
  const upstream = await startStandIn();
  upstream.answer = answers(upstream);
  const dist = makeDist();
  // Push off: every chat read and message goes upstream the same way on both sides.
  const env = { PURL_PUSH: 'off', API_RATE_LIMIT_REQUESTS: '100000', MEMORY_API_RATE_LIMIT_REQUESTS: '100000' };
  const without = await gatewayFor(upstream, dist, env, { people: TEST_PEOPLE, ownership: OWNS_ALL });
  const withPeople = await gatewayFor(upstream, dist, env, realPeople());
  try {
    const sides = [await side('without people', without), await side('with people', withPeople)];
    say(`people: ${rounds} rounds of ${perRound} requests per kind and side, alternating`);
    const rows: string[] = ['| request | without people, CPU µs/request | with people | ÷ without |', '|---|---|---|---|'];
    for (const kind of Object.keys(KINDS) as Array<keyof typeof KINDS>) {
      const totals = [0, 0];
      for (let round = 0; round < rounds; round++) {
        // Alternate which side goes first, so warm-up and noise fall on both.
        const order = round % 2 === 0 ? [0, 1] : [1, 0];
        for (const index of order) totals[index]! += await run(sides[index]!, kind, perRound);
      }
      const [base, people] = totals.map((total) => total / rounds) as [number, number];
      rows.push(`| ${kind} | ${base.toFixed(0)} | ${people.toFixed(0)} | ${(people / base).toFixed(2)} |`);
      say(`people: ${kind}: ${base.toFixed(0)} µs without, ${people.toFixed(0)} µs with (÷ ${(people / base).toFixed(2)})`);
    }
    return rows.join('\n');
  } finally {
    await without.close();
    await withPeople.close();
    await upstream.close();
    fs.rmSync(dist, { recursive: true, force: true });
  }
}
