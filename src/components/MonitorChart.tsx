import type { MinuteBucket } from '../shared/network';
import { CHART_MINUTES, chartLabel, chartSeries } from './monitor-model';

export interface MonitorChartProps {
  /** The worker's per-minute history (any order; minutes outside the last 15 are ignored). */
  history: readonly MinuteBucket[];
  /** The current time, epoch ms: the last bar is this minute. */
  now: number;
}

/** viewBox units: each minute gets a 10-wide column, so the bars stretch to any width. */
const COLUMN = 10;
const HEIGHT = 60;
const WIDTH = CHART_MINUTES * COLUMN;

const minuteFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

/** A bar's height in viewBox units; a non-zero figure is never drawn flat. */
function barHeight(value: number, scale: number): number {
  return value === 0 ? 0 : Math.max(1.5, (value / scale) * HEIGHT);
}

/**
 * Requests per minute over the last 15 minutes, with 429 answers as a narrower bar in
 * the warning colour on top of each minute's requests (shape and colour both differ, so
 * colour is not the only cue). Screen readers get the figures in words from `aria-label`;
 * the bars are decoration for them. Colours come from CSS variables, so the theme applies.
 */
export function MonitorChart({ history, now }: MonitorChartProps) {
  const series = chartSeries(history, now);
  // An empty chart still has a scale of 1, so it draws a baseline rather than dividing by zero.
  const scale = Math.max(1, series.max);
  return (
    <figure class="monitor-chart">
      <figcaption>Requests per minute, last {CHART_MINUTES} minutes</figcaption>
      <p class="monitor-chart-axis" aria-hidden="true">
        <span>{scale}</span>
      </p>
      <svg role="img" aria-label={chartLabel(series)} viewBox={`0 0 ${WIDTH} ${HEIGHT}`} preserveAspectRatio="none" focusable="false">
        {series.slots.map((slot, index) => {
          const requests = barHeight(slot.requests, scale);
          const limited = barHeight(slot.rateLimited, scale);
          return (
            <g key={slot.minute}>
              <title>{`${minuteFormat.format(slot.minute)}: ${slot.requests} requests, ${slot.rateLimited} answered 429`}</title>
              {/* A full-height transparent column, so hovering anywhere over the minute shows its figures. */}
              <rect x={index * COLUMN} y={0} width={COLUMN} height={HEIGHT} fill="transparent" />
              {requests > 0 && <rect class="monitor-bar" x={index * COLUMN + 1} y={HEIGHT - requests} width={COLUMN - 2} height={requests} />}
              {limited > 0 && <rect class="monitor-bar-limited" x={index * COLUMN + 3} y={HEIGHT - limited} width={COLUMN - 6} height={limited} />}
            </g>
          );
        })}
        <line class="monitor-baseline" x1={0} y1={HEIGHT} x2={WIDTH} y2={HEIGHT} vector-effect="non-scaling-stroke" />
      </svg>
      <p class="monitor-chart-axis" aria-hidden="true">
        <span>{CHART_MINUTES} min ago</span>
        <span>now</span>
      </p>
      <p class="monitor-legend" aria-hidden="true">
        <span class="monitor-key monitor-key-requests">requests</span>
        <span class="monitor-key monitor-key-limited">429 answers</span>
      </p>
    </figure>
  );
}
