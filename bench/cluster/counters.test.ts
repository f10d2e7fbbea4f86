import { describe, expect, it } from 'vitest';
import { difference, HAPROXY_PEAK, instancesTakenOut, parseHaproxyStat, parseRedisInfo, REDIS_TOTAL, redisUse, requestsByInstance } from './counters';

const INFO = (total: number, calls: Record<string, number>) =>
  [
    '# Stats',
    'total_connections_received:7',
    `total_commands_processed:${total}`,
    'instantaneous_ops_per_sec:3',
    '',
    '# Commandstats',
    ...Object.entries(calls).map(([name, n]) => `cmdstat_${name}:calls=${n},usec=40,usec_per_call=2.00,rejected_calls=0,failed_calls=0`),
    '',
  ].join('\r\n');

// The header HAProxy 2.6 writes, cut after the columns read (the rest are ignored by name).
const HEADER =
  '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt';
function statLine(proxy: string, server: string, values: { smax?: number; stot?: number; req_tot?: number; chkdown?: number; downtime?: number }): string {
  const columns = HEADER.slice(2).split(',');
  const cells = columns.map(() => '');
  cells[0] = proxy;
  cells[1] = server;
  for (const [name, value] of Object.entries(values)) cells[columns.indexOf(name)] = String(value);
  return cells.join(',');
}
const STAT = (g1: number, g2: number, peak: number, downs = 0) =>
  [
    HEADER,
    statLine('purl', 'FRONTEND', { smax: peak, stot: 99, req_tot: g1 + g2 }),
    statLine('gateways', 'gateway1', { stot: g1, req_tot: g1, chkdown: downs, downtime: 3 * downs }),
    statLine('gateways', 'gateway2', { stot: g2, req_tot: g2, chkdown: 0, downtime: 0 }),
    statLine('gateways', 'BACKEND', { stot: g1 + g2, req_tot: g1 + g2 }),
    '',
  ].join('\n');

describe('the cluster bench’s counters', () => {
  it('reads Redis’s total and each command’s calls, subcommands included', () => {
    const counts = parseRedisInfo(`${INFO(12, { get: 5, 'client|setinfo': 2, ping: 4 })}`);
    expect(counts).toEqual({ [REDIS_TOTAL]: 12, 'redis:cmd:get': 5, 'redis:cmd:client|setinfo': 2, 'redis:cmd:ping': 4 });
  });

  it('counts what the gateways sent between two snapshots, without the bench’s own INFO calls', () => {
    // Redis counts an INFO once it has answered: the first snapshot's INFO is in the second's total.
    const before = parseRedisInfo(INFO(10, { get: 4, ping: 6 }));
    const after = parseRedisInfo(INFO(131, { get: 54, ping: 66, evalsha: 10, info: 1 }));
    expect(redisUse(before, after)).toEqual({
      commands: 120,
      pings: 60,
      byCommand: [
        ['ping', 60],
        ['get', 50],
        ['evalsha', 10],
      ],
    });
  });

  it('reads the requests HAProxy sent each instance, and the entry’s peak connections', () => {
    const counts = parseHaproxyStat(STAT(30, 25, 140));
    expect(counts).toMatchObject({ 'haproxy:gateway1:requests': 30, 'haproxy:gateway2:requests': 25, [HAPROXY_PEAK]: 140 });
    expect(Object.keys(counts)).not.toContain('haproxy:BACKEND:requests');
    expect(requestsByInstance(counts, parseHaproxyStat(STAT(130, 95, 150)))).toEqual({ gateway1: 100, gateway2: 70 });
    expect(parseHaproxyStat('Unknown command\n')).toEqual({});
  });

  it('counts the times HAProxy’s health check took an instance out, and the seconds it stayed out', () => {
    expect(instancesTakenOut(parseHaproxyStat(STAT(30, 25, 140, 1)), parseHaproxyStat(STAT(130, 95, 150, 3)))).toEqual({ times: 2, seconds: 6 });
    expect(instancesTakenOut(parseHaproxyStat(STAT(30, 25, 140)), parseHaproxyStat(STAT(130, 95, 150)))).toEqual({ times: 0, seconds: 0 });
  });

  it('takes a key missing before as counted from zero', () => {
    expect(difference({ a: 2 }, { a: 5, b: 3 })).toEqual({ a: 3, b: 3 });
  });
});
