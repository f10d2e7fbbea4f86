/** The settings of `npm run cluster` (server/cluster/main.ts) beyond the gateway's own. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSettings } from '../settings/read';

/** The load balancer's configuration, shipped: its values come from the environment the runner gives HAProxy. */
export const HAPROXY_CONFIG = path.join(path.dirname(fileURLToPath(import.meta.url)), 'haproxy.cfg');

/** As many server lines as server/cluster/haproxy.cfg has. */
export const MAX_INSTANCES = 8;

export const NO_HAPROXY_MESSAGE = 'haproxy is not on PATH. Install it with `apt-get install haproxy` (Debian): it is the one address of the cluster.';

export const CLUSTER_TLS_MESSAGE =
  'npm run cluster serves plain http at its entry (HAProxy on loopback by default): TLS_CERT_FILE and TLS_KEY_FILE are for npm start. Put TLS in front of the cluster, or unset them.';

/** PURL_INSTANCES: 1 to {@link MAX_INSTANCES}, default 3, by the settings table; anything else stops the start with a sentence. */
export function instanceCount(raw: string | undefined): number {
  return readSettings({ PURL_INSTANCES: raw }).PURL_INSTANCES;
}
