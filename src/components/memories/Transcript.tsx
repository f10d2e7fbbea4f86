import { useEffect, useState } from 'preact/hooks';
import { useDbQuery } from '../../data/hooks';
import { listConversation, type ConversationSummary } from '../../shared/memory-queries';
import { MemoryItem } from './MemoryItem';
import { LATEST_WINDOW, earlierWindow } from './paging';
import { countOf, formatSpan } from './text';

export interface TranscriptProps {
  agentId: string;
  agentName: string;
  roomId: string;
  /** The room's summary from the list, for the heading; undefined until the list loads. */
  summary: ConversationSummary | undefined;
  /** "Back to conversations" or "Back to search results". */
  backLabel: string;
  onBack: () => void;
  /** Called when the room has no saved memories: the hash named an unknown conversation. */
  onMissing: () => void;
}

/**
 * One conversation, oldest first, read a window at a time (see paging.ts). Mount it
 * with a `key` per agent and room, so another room starts on its newest page.
 */
export function Transcript({ agentId, agentName, roomId, summary, backLabel, onBack, onMissing }: TranscriptProps) {
  const [range, setRange] = useState(LATEST_WINDOW);
  const page = useDbQuery((db) => listConversation(db, agentId, roomId, range), ['memories'], [agentId, roomId, range]);
  const memories = page.data?.memories;
  const isMissing = page.data !== undefined && memories?.length === 0 && range.before === undefined;
  useEffect(() => {
    if (isMissing) onMissing();
  }, [isMissing, onMissing]);

  return (
    <section class="transcript" aria-labelledby="memories-transcript-title">
      <button type="button" class="transcript-back" onClick={onBack}>
        <span aria-hidden="true">← </span>
        {backLabel}
      </button>
      <h3 id="memories-transcript-title" class="transcript-title" tabIndex={-1}>
        Conversation
      </h3>
      {summary && (
        <p class="transcript-meta">
          {countOf(summary.count, 'message')} · {formatSpan(summary.firstAt, summary.lastAt)}
        </p>
      )}
      {page.error && <p class="status-line">{page.error}</p>}
      {memories === undefined ? (
        <p class="empty">Loading the conversation…</p>
      ) : memories.length === 0 ? (
        <p class="empty">This conversation has no saved messages.</p>
      ) : (
        <>
          {page.data?.hasMore && (
            <button type="button" class="transcript-more" onClick={() => setRange(earlierWindow(range, memories))}>
              Show earlier messages
            </button>
          )}
          <ol class="transcript-rows">
            {memories.map((memory) => (
              <li key={memory.id}>
                <MemoryItem memory={memory} agentName={agentName} />
              </li>
            ))}
          </ol>
          {range.before && (
            <button type="button" class="transcript-more" onClick={() => setRange(LATEST_WINDOW)}>
              Show the latest messages
            </button>
          )}
        </>
      )}
    </section>
  );
}
