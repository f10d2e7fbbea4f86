import type { ChatLine } from './chat-model';
import { formatTime } from '../format';
import { sendCommand } from '../../link/commands';

export interface ChatLineItemProps {
  line: ChatLine;
  agentName: string;
}

function stateText(line: ChatLine): string {
  switch (line.state) {
    case 'received':
      return '';
    case 'sent':
      return 'Sent';
    case 'saving':
      return 'Saving…';
    case 'queued':
      return 'Queued';
    case 'sending':
      return 'Sending…';
    case 'retrying':
      return line.nextAttemptAt ? `Will retry at ${formatTime(line.nextAttemptAt)}` : 'Will retry';
    case 'rejected':
      return 'Not accepted';
  }
}

/** One line of the conversation: text as text, never HTML, with its delivery state. */
export function ChatLineItem({ line, agentName }: ChatLineItemProps) {
  const state = stateText(line);
  return (
    <li class="chat-line" data-author={line.isAgent ? 'agent' : 'user'} data-state={line.state}>
      <p class="memory-meta">
        <span class="memory-author">{line.isAgent ? agentName : 'You'}</span>
        <time dateTime={new Date(line.at).toISOString()}>{formatTime(line.at)}</time>
        {state && <span class="chat-state">{state}</span>}
      </p>
      <p class="memory-text">{line.text}</p>
      {line.error && <p class="chat-error">{line.error}</p>}
      {line.state === 'rejected' && line.clientId && (
        <p class="chat-actions">
          <button type="button" onClick={() => void navigator.clipboard?.writeText(line.text)}>
            Copy text
          </button>
          <button type="button" onClick={() => void sendCommand({ type: 'discard-message', clientId: line.clientId! })}>
            Discard
          </button>
        </p>
      )}
    </li>
  );
}
