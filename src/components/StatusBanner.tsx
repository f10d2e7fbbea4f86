import type { SyncStatus } from '../shared/db';
import { formatTime } from './format';

export interface StatusBannerProps {
  online: boolean;
  sync: SyncStatus | undefined;
  storageError: string | undefined;
}

/** Says in words what is happening with the connection; silent when all is well. */
export function StatusBanner({ online, sync, storageError }: StatusBannerProps) {
  const lines: string[] = [];
  if (!online) lines.push("You're offline. Showing saved memories; Purl will catch up when you're back online.");
  else if (sync?.error) lines.push(sync.error);
  if (storageError) lines.push(storageError);
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
