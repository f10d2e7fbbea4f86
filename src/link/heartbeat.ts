/**
 * The heartbeat: tells the worker this tab is alive, visible or not, and used lately
 * or not, which sets the poll cadence for every tab. It also passes on the browser's
 * `online` (retry now) and a closing tab (stop counting it at once).
 */
import { sendCommand } from './commands';

const HEARTBEAT_VISIBLE_MS = 5_000;
const HEARTBEAT_HIDDEN_MS = 30_000;
const ACTIVE_WINDOW_MS = 5 * 60_000;

export function startHeartbeat(): void {
  const tabId = crypto.randomUUID();
  let lastInputAt = Date.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const beat = () => {
    clearTimeout(timer);
    const visible = document.visibilityState === 'visible';
    void sendCommand({ type: 'heartbeat', tabId, visible, active: Date.now() - lastInputAt < ACTIVE_WINDOW_MS });
    timer = setTimeout(beat, visible ? HEARTBEAT_VISIBLE_MS : HEARTBEAT_HIDDEN_MS);
  };
  for (const type of ['pointerdown', 'keydown', 'scroll'] as const) {
    addEventListener(type, () => (lastInputAt = Date.now()), { passive: true, capture: true });
  }
  document.addEventListener('visibilitychange', beat);
  addEventListener('online', () => void sendCommand({ type: 'refresh' }));
  // A closed tab stops counting for the poll cadence at once, not 75 s later.
  addEventListener('pagehide', (event) => {
    if (!event.persisted) void sendCommand({ type: 'tab-closed', tabId });
  });
  beat();
}
