import type { Memory } from '../shared/api';
import { formatDateTime } from './format';

export interface MemoryListProps {
  agentName: string;
  memories: readonly Memory[] | undefined;
  total: number;
  loading: boolean;
}

/** The agent's memories, newest first. Text is rendered as text, never as HTML. */
export function MemoryList({ agentName, memories, total, loading }: MemoryListProps) {
  if (!memories || memories.length === 0) {
    return (
      <section class="memories" aria-labelledby="memories-title">
        <h2 id="memories-title">Memories</h2>
        <p class="empty">{loading ? "Loading saved memories…" : "No memories yet. They appear here as soon as the agent's server answers."}</p>
      </section>
    );
  }
  return (
    <section class="memories" aria-labelledby="memories-title">
      <h2 id="memories-title">
        Memories <span class="count">{total}</span>
      </h2>
      <ol class="memory-list">
        {memories.map((memory) => (
          <li key={memory.id} class="memory" data-author={memory.isAgent ? 'agent' : 'user'} data-memory-id={memory.id}>
            <p class="memory-meta">
              <span class="memory-author">{memory.isAgent ? agentName : 'User'}</span>
              <time dateTime={new Date(memory.createdAt).toISOString()}>{formatDateTime(memory.createdAt)}</time>
            </p>
            <p class="memory-text">{memory.text}</p>
          </li>
        ))}
      </ol>
      {total > memories.length && <p class="more">{total - memories.length} older memories are saved on this device.</p>}
    </section>
  );
}
