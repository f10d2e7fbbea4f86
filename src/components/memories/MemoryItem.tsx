import type { Memory } from '../../shared/api';
import { formatDateTime } from '../format';
import { authorName } from './text';

export interface MemoryItemProps {
  memory: Memory;
  agentName: string;
}

/**
 * One memory: who, when, what. Every string from the server is rendered as text
 * (JSX children), never as HTML. The agent's thought and actions are folded away:
 * most readers want the conversation, not the reasoning.
 */
export function MemoryItem({ memory, agentName }: MemoryItemProps) {
  const hasDetails = memory.isAgent && (Boolean(memory.thought) || (memory.actions?.length ?? 0) > 0);
  return (
    <article class="memory" data-author={memory.isAgent ? 'agent' : 'user'} data-memory-id={memory.id}>
      <p class="memory-meta">
        <span class="memory-author">{authorName(memory.isAgent, agentName)}</span>
        <time dateTime={new Date(memory.createdAt).toISOString()}>{formatDateTime(memory.createdAt)}</time>
      </p>
      {memory.text.trim() === '' ? <p class="memory-text memory-text-none">(No text)</p> : <p class="memory-text">{memory.text}</p>}
      {hasDetails && (
        <details class="memory-details">
          <summary>Thought and actions</summary>
          <dl>
            {memory.thought && (
              <>
                <dt>Thought</dt>
                <dd class="memory-thought">{memory.thought}</dd>
              </>
            )}
            {memory.actions && memory.actions.length > 0 && (
              <>
                <dt>Actions</dt>
                <dd class="memory-actions">{memory.actions.join(', ')}</dd>
              </>
            )}
          </dl>
        </details>
      )}
    </article>
  );
}
