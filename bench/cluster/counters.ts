/**
 * The cluster's own counters, read by the cluster bench as a row begins, as its measured
 * part begins and as it ends: Redis's commands (`INFO stats commandstats`) and what
 * HAProxy sent each instance (`show stat` on its runtime API). Pure: the parsers and the
 * arithmetic on what they read; bench/cluster/front.ts asks.
 */

/** Keys of a snapshot: `redis:commands` (total_commands_processed), `redis:cmd:<name>` (calls of one command). */
export const REDIS_TOTAL = 'redis:commands';
const REDIS_COMMAND = 'redis:cmd:';
/**
 * For each instance `haproxy:<server>:requests` (req_tot), `:sessions` (stot), `:downs` (chkdown: times its
 * health check took it out) and `:downtime` (seconds out); `haproxy:entry:peak` (the entry's most connections at once).
 */
const HAPROXY = 'haproxy:';
export const HAPROXY_PEAK = 'haproxy:entry:peak';

/** `INFO stats commandstats` as numbers: the total of commands processed, and the calls of each command. */
export function parseRedisInfo(text: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of text.split(/\r?\n/)) {
    const total = /^total_commands_processed:(\d+)$/.exec(line);
    if (total) counts[REDIS_TOTAL] = Number(total[1]);
    // cmdstat_get:calls=12,usec=…; a subcommand is named cmdstat_client|setinfo.
    const command = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (command) counts[REDIS_COMMAND + command[1]!] = Number(command[2]);
  }
  return counts;
}

/**
 * HAProxy's `show stat` (CSV, its header line starting `# `) as numbers: for each server of
 * the `gateways` backend, the HTTP requests and the connections it was sent; for the
 * entry, the most connections it held at once.
 */
export function parseHaproxyStat(csv: string): Record<string, number> {
  const lines = csv.split('\n').filter((line) => line.trim() !== '');
  const header = lines.find((line) => line.startsWith('# '));
  if (!header) return {};
  const columns = header.slice(2).split(',');
  const at = (name: string) => columns.indexOf(name);
  const counts: Record<string, number> = {};
  for (const line of lines) {
    if (line.startsWith('#')) continue;
    const cells = line.split(',');
    const [proxy, server] = [cells[at('pxname')], cells[at('svname')]];
    if (proxy === 'gateways' && server !== 'BACKEND') {
      counts[`${HAPROXY}${server}:requests`] = Number(cells[at('req_tot')] || 0);
      counts[`${HAPROXY}${server}:sessions`] = Number(cells[at('stot')] || 0);
      counts[`${HAPROXY}${server}:downs`] = Number(cells[at('chkdown')] || 0);
      counts[`${HAPROXY}${server}:downtime`] = Number(cells[at('downtime')] || 0);
    } else if (proxy === 'purl' && server === 'FRONTEND') counts[HAPROXY_PEAK] = Number(cells[at('smax')] || 0);
  }
  return counts;
}

/** `after − before` for every key of `after` (a key missing before counts from 0). */
export function difference(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([key, value]) => [key, value - (before[key] ?? 0)]));
}

export interface RedisUse {
  /** Commands the gateways sent (the bench's own INFO calls taken off). */
  commands: number;
  /** Of which PINGs: each instance's liveness check, once a second whatever its users do. */
  pings: number;
  /** Calls of each command, most first (INFO left out). */
  byCommand: [string, number][];
}

/** What Redis did between two snapshots, the bench's own INFO calls (the only INFOs: the gateways send none) taken off. */
export function redisUse(before: Record<string, number>, after: Record<string, number>): RedisUse {
  const delta = difference(before, after);
  const byCommand = Object.entries(delta)
    .filter(([key, calls]) => key.startsWith(REDIS_COMMAND) && key !== `${REDIS_COMMAND}info` && calls > 0)
    .map(([key, calls]): [string, number] => [key.slice(REDIS_COMMAND.length), calls])
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const infos = delta[`${REDIS_COMMAND}info`] ?? 0;
  return { commands: (delta[REDIS_TOTAL] ?? 0) - infos, pings: delta[`${REDIS_COMMAND}ping`] ?? 0, byCommand };
}

/** One of HAProxy's counters of each instance between two snapshots, by server name (gateway1, …). */
function byInstance(before: Record<string, number>, after: Record<string, number>, counter: string): Record<string, number> {
  const delta = difference(before, after);
  const counts: Record<string, number> = {};
  for (const [key, value] of Object.entries(delta)) {
    const match = /^haproxy:(.+):([a-z]+)$/.exec(key);
    if (match && match[2] === counter) counts[match[1]!] = value;
  }
  return counts;
}

/** HTTP requests HAProxy sent each instance between two snapshots, by server name (gateway1, …). */
export function requestsByInstance(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return byInstance(before, after, 'requests');
}

/**
 * How often HAProxy's health check took instances out between two snapshots, and for how
 * many seconds in all: an instance too busy to answer /healthz within 2 s, twice, is out.
 */
export function instancesTakenOut(before: Record<string, number>, after: Record<string, number>): { times: number; seconds: number } {
  const sum = (counts: Record<string, number>) => Object.values(counts).reduce((total, value) => total + value, 0);
  return { times: sum(byInstance(before, after, 'downs')), seconds: sum(byInstance(before, after, 'downtime')) };
}
