import { useEffect, useState } from 'preact/hooks';
import type { MetricsSnapshot } from '../shared/network';
import { useNow } from '../data/hooks';
import { disableHighLoadMode, enableHighLoadMode } from '../link/high-load';
import { MonitorChart } from './MonitorChart';
import { monitorRows, monitorSummary } from './monitor-model';

export interface MonitorProps {
  /** The worker's latest figures (`useMetrics()`); undefined until it has published any. */
  metrics: MetricsSnapshot | undefined;
}

/**
 * The rate-limit monitor: collapsed to one line by default, opening to every figure in
 * words, the last 15 minutes as a chart, and the high-load switch. It only renders what
 * the worker published; `now` ticks every second so countdowns and the chart stay live.
 */
export function Monitor({ metrics }: MonitorProps) {
  const now = useNow(true);
  return (
    <details class="monitor">
      <summary>
        <span class="monitor-title">Rate-limit monitor</span>
        <span class="monitor-summary">{monitorSummary(metrics, now)}</span>
      </summary>
      {metrics ? (
        <div class="monitor-body">
          <dl class="monitor-rows">
            {monitorRows(metrics, now).map((row) => (
              <div key={row.id} class="monitor-row" data-tone={row.tone}>
                <dt>{row.label}</dt>
                <dd>{row.value}</dd>
              </div>
            ))}
          </dl>
          <MonitorChart history={metrics.history} now={now} />
          <HighLoadSwitch on={metrics.highLoad} />
        </div>
      ) : (
        <p class="empty monitor-empty">No figures yet: they appear after the first request.</p>
      )}
    </details>
  );
}

interface HighLoadSwitchProps {
  /** The mode in force, as the worker last reported it. */
  on: boolean;
}

/** How long the switch shows the requested mode while waiting for the worker to confirm it. */
const CONFIRM_WAIT_MS = 5_000;

/**
 * The high-load switch. The worker owns the mode and confirms a change by publishing new
 * figures about a second later; until then the switch shows what was asked, because the
 * one-second re-render would otherwise flick it back to the old mode in between.
 */
function HighLoadSwitch({ on }: HighLoadSwitchProps) {
  const [requested, setRequested] = useState<boolean | undefined>(undefined);
  useEffect(() => {
    if (requested === undefined) return;
    if (requested === on) {
      setRequested(undefined);
      return;
    }
    // No confirmation (no worker yet, or another tab switched back): show the truth again.
    const timer = setTimeout(() => setRequested(undefined), CONFIRM_WAIT_MS);
    return () => clearTimeout(timer);
  }, [on, requested]);

  const change = (wanted: boolean) => {
    setRequested(wanted);
    (wanted ? enableHighLoadMode() : disableHighLoadMode()).catch(() => {
      // The worker could not be reached: the switch goes back to the mode in force.
      setRequested(undefined);
    });
  };

  return (
    <label class="monitor-switch">
      <input type="checkbox" role="switch" aria-checked={requested ?? on} checked={requested ?? on} onChange={(event) => change(event.currentTarget.checked)} />
      <span>
        <strong>High-load mode</strong>: slower polls, fewer requests at once, for every tab of this browser
      </span>
    </label>
  );
}
