import { useRef, useState } from 'preact/hooks';
import type { ConversationSummary } from '../../shared/memory-queries';
import { Pager } from './Pager';
import { LIST_PAGE, clampOffset } from './paging';
import { countOf, formatSpan } from './text';

export interface ConversationListProps {
  /** Most recently active first; undefined while loading. */
  conversations: readonly ConversationSummary[] | undefined;
  /** The conversation shown beside the list, marked as current. */
  openRoomId: string | undefined;
  onOpen: (roomId: string) => void;
}

/** The agent's conversations, a page at a time; each row is a button that opens one. */
export function ConversationList({ conversations, openRoomId, onOpen }: ConversationListProps) {
  const [requested, setRequested] = useState(0);
  const heading = useRef<HTMLHeadingElement>(null);
  const total = conversations?.length ?? 0;
  const offset = clampOffset(requested, total, LIST_PAGE);
  const onPage = (next: number) => {
    setRequested(next);
    // The rows are replaced under the reader: start them at the top of the new page.
    heading.current?.focus();
  };

  return (
    <section class="conversation-list" aria-labelledby="memories-index-title">
      <h3 id="memories-index-title" class="memories-index-title" tabIndex={-1} ref={heading}>
        Conversations {conversations && <span class="count">{total}</span>}
      </h3>
      {conversations === undefined ? (
        <p class="empty">Loading saved conversations…</p>
      ) : total === 0 ? (
        <p class="empty">No memories yet. They appear here as soon as the agent's server answers.</p>
      ) : (
        <ol class="conversation-rows">
          {conversations.slice(offset, offset + LIST_PAGE).map((conversation) => (
            <li key={conversation.roomId}>
              <button
                type="button"
                class="conversation-row"
                data-room-id={conversation.roomId}
                aria-current={conversation.roomId === openRoomId ? 'true' : undefined}
                onClick={() => onOpen(conversation.roomId)}
              >
                <span class="conversation-preview">{conversation.preview || '(No text)'}</span>
                <span class="conversation-meta">
                  {countOf(conversation.count, 'message')} · {formatSpan(conversation.firstAt, conversation.lastAt)}
                </span>
              </button>
            </li>
          ))}
        </ol>
      )}
      <Pager offset={offset} pageSize={LIST_PAGE} total={total} label="Conversation pages" noun="conversation" onPage={onPage} />
    </section>
  );
}
