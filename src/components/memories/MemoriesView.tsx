import { useMemo, useRef } from 'preact/hooks';
import { useDbQuery } from '../../data/hooks';
import { listConversations } from '../../shared/memory-queries';
import { ConversationList } from './ConversationList';
import { useMemoriesRoute } from './route';
import { SearchForm } from './SearchForm';
import { SearchResults } from './SearchResults';
import { Transcript } from './Transcript';
import { useMemorySearch } from './useMemorySearch';
import { useRouteFocus } from './useRouteFocus';

export interface MemoriesViewProps {
  agentId: string;
  /** How the agent's memories are signed. */
  agentName: string;
}

/**
 * The memories browser: search and an author filter over the conversation list (or
 * the search results), and the open conversation, whose room id is in the URL hash.
 * Side by side on wide containers, one at a time on narrow ones (styles.css).
 */
export function MemoriesView({ agentId, agentName }: MemoriesViewProps) {
  const router = useMemoriesRoute();
  const search = useMemorySearch(agentId);
  const listed = useDbQuery(async (db) => ({ agentId, conversations: await listConversations(db, agentId) }), ['memories'], [agentId]);
  // Another agent's list, still shown while this one's loads, would be wrong: say loading.
  const conversations = listed.data?.agentId === agentId ? listed.data.conversations : undefined;
  const byRoom = useMemo(() => new Map((conversations ?? []).map((conversation) => [conversation.roomId, conversation])), [conversations]);
  const root = useRef<HTMLElement>(null);
  const { roomId } = router;
  useRouteFocus(root, roomId);
  const error = listed.error ?? search.error;

  return (
    <section ref={root} class="memories-browser" data-view={roomId ? 'conversation' : 'list'} aria-labelledby="memories-browser-title">
      <h2 id="memories-browser-title" class="memories-browser-title">
        Memories
      </h2>
      {error && <p class="status-line">{error}</p>}
      <div class="memories-layout">
        <div class="memories-index">
          <SearchForm text={search.text} author={search.author} agentName={agentName} onText={search.setText} onAuthor={search.setAuthor} />
          {search.isActive ? (
            <SearchResults
              outcome={search.outcome}
              pending={search.isPending}
              agentName={agentName}
              conversations={byRoom}
              onOpen={router.open}
              onPage={search.setOffset}
            />
          ) : (
            <ConversationList conversations={conversations} openRoomId={roomId} onOpen={router.open} />
          )}
        </div>
        <div class="memories-pane">
          {roomId ? (
            <Transcript
              key={`${agentId}\n${roomId}`}
              agentId={agentId}
              agentName={agentName}
              roomId={roomId}
              summary={byRoom.get(roomId)}
              backLabel={search.isActive ? 'Back to search results' : 'Back to conversations'}
              onBack={router.back}
              onMissing={router.leave}
            />
          ) : (
            <p class="memories-placeholder">Choose a conversation to read it here.</p>
          )}
        </div>
      </div>
    </section>
  );
}
