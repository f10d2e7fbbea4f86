import { useRef } from 'preact/hooks';
import type { ConversationSummary } from '../../shared/memory-queries';
import { formatDateTime } from '../format';
import { MemoryItem } from './MemoryItem';
import { Pager } from './Pager';
import { LIST_PAGE } from './paging';
import { resultSentence } from './text';
import type { SearchOutcome } from './useMemorySearch';

export interface SearchResultsProps {
  /** The last finished search; undefined before the first one finishes. */
  outcome: SearchOutcome | undefined;
  /** True while a newer search than `outcome` runs. */
  pending: boolean;
  agentName: string;
  /** Conversations by room id, to say where each result was said. */
  conversations: ReadonlyMap<string, ConversationSummary>;
  onOpen: (roomId: string) => void;
  onPage: (offset: number) => void;
}

/** One page of search results, newest first, each with a button to its conversation. */
export function SearchResults({ outcome, pending, agentName, conversations, onOpen, onPage }: SearchResultsProps) {
  const heading = useRef<HTMLHeadingElement>(null);
  const page = (offset: number) => {
    onPage(offset);
    heading.current?.focus();
  };
  return (
    <section class="search-results" aria-labelledby="memories-index-title" aria-busy={pending}>
      <h3 id="memories-index-title" class="memories-index-title" tabIndex={-1} ref={heading}>
        Search results
      </h3>
      {/* Always rendered, so screen readers announce each new count. */}
      <p class="search-count" aria-live="polite">
        {outcome ? resultSentence(outcome.total, outcome.text, outcome.author, agentName) : 'Searching saved memories…'}
      </p>
      {outcome && outcome.results.length > 0 && (
        <ol class="search-rows">
          {outcome.results.map((memory) => {
            const conversation = conversations.get(memory.roomId);
            return (
              <li key={memory.id} class="search-row">
                <MemoryItem memory={memory} agentName={agentName} />
                <button type="button" class="search-open" data-room-id={memory.roomId} onClick={() => onOpen(memory.roomId)}>
                  Open conversation
                  {conversation && (
                    <span class="search-room">
                      {' '}
                      “{conversation.preview || '(No text)'}”, started {formatDateTime(conversation.firstAt)}
                    </span>
                  )}
                </button>
              </li>
            );
          })}
        </ol>
      )}
      {outcome && <Pager offset={outcome.offset} pageSize={LIST_PAGE} total={outcome.total} label="Result pages" noun="result" onPage={page} />}
    </section>
  );
}
