import type { SyncStatus } from '../shared/db';
import type { MetricsSnapshot } from '../shared/network';
import { useNow } from '../data/hooks';
import { formatCountdown, formatTime } from './format';

export interface StatusBannerProps {
  online: boolean;
  sync: SyncStatus | undefined;
  /** The chat poll's outcome: a failure is said when nothing above already explains it. */
  chatPoll?: SyncStatus | undefined;
  metrics: MetricsSnapshot | undefined;
  storageError: string | undefined;
}

/** The sentence for the connection as it is now; undefined when all is well. */
export function connectionSentence(
  online: boolean,
  sync: SyncStatus | undefined,
  metrics: MetricsSnapshot | undefined,
  now: number,
  chatPoll?: SyncStatus,
): string | undefined {
  if (!online) return "You're offline. Showing saved memories; Purl will catch up when you're back online.";
  const breaker = metrics?.breaker;
  if (breaker && breaker.state !== 'closed') {
    // A breaker opened by 429s or by unreadable answers is a server that answers: say what it does, not "isn't answering".
    const what =
      metrics.lastFailure === 'rate-limited'
        ? "The agent's server asked Purl to slow down."
        : metrics.lastFailure === 'bad-answer'
          ? "The agent's server sent something Purl couldn't read."
          : "The agent's server isn't answering.";
    return breaker.nextProbeAt > now
      ? `${what} Showing saved memories; trying again in ${formatCountdown(breaker.nextProbeAt - now)}.`
      : `${what} Showing saved memories; trying again now.`;
  }
  const retryAt = metrics?.rateLimit.retryAt;
  if (retryAt !== undefined && retryAt > now) {
    // Behind a gateway that shares one budget among all its users, it says what it does with the rest.
    switch (metrics?.upstream?.tier) {
      case 'empty':
        return `The agent's server has spent its request budget for now. Showing saved memories; messages wait and go at ${formatTime(retryAt)}.`;
      case 'reserve':
        return `The agent's server has little of its request budget left, and keeps it for messages: they still go. New replies show from ${formatTime(retryAt)}.`;
      default:
        return `The agent's server asked Purl to slow down. Showing saved memories; trying again at ${formatTime(retryAt)}.`;
    }
  }
  return sync?.error ?? chatPoll?.error;
}

/** Says in words what is happening with the connection; only "last updated" when all is well. */
export function StatusBanner({ online, sync, chatPoll, metrics, storageError }: StatusBannerProps) {
  const now = useNow(true);
  const lines = [connectionSentence(online, sync, metrics, now, chatPoll), storageError].filter((line): line is string => Boolean(line));
  const updated = sync?.succeededAt ? `Last updated ${formatTime(sync.succeededAt)}.` : '';
  return (
    <div class="status" role="status" data-state={lines.length ? 'degraded' : 'ok'}>
      {lines.map((line) => (
        <p key={line} class="status-line">
          {line}
        </p>
      ))}
      {updated && <p class="status-updated">{updated}</p>}
    </div>
  );
}
