import { useEffect, useRef, useState } from 'preact/hooks';
import { listChat, listOutbox } from '../../shared/db';
import { useDbQuery, useNow } from '../../data/hooks';
import { sendCommand } from '../../link/commands';
import { listUnsent, sendMessage, unsentMessages } from '../../link/send';
import { ChatLineItem } from './ChatLineItem';
import { chatLines, isAgentThinking } from './chat-model';
import { Composer } from './Composer';

export interface ChatViewProps {
  agentId: string;
  agentName: string;
}

let persistenceAsked = false;

/** Once the user has sent something worth keeping, ask the browser not to evict our storage. */
function askForPersistentStorage(): void {
  if (persistenceAsked) return;
  persistenceAsked = true;
  void navigator.storage?.persist?.().catch(() => undefined);
}

export function ChatView({ agentId, agentName }: ChatViewProps) {
  const { data } = useDbQuery(
    async (db) => ({ messages: await listChat(db, agentId), outbox: (await listOutbox(db)).filter((item) => item.agentId === agentId) }),
    ['chat', 'outbox'],
    [agentId],
  );
  useEffect(() => void sendCommand({ type: 'open-chat', agentId }), [agentId]);
  const [unsent, setUnsent] = useState(listUnsent);
  useEffect(() => unsentMessages.subscribe(setUnsent), []);
  const lines = data
    ? chatLines(
        data.messages,
        data.outbox,
        unsent.filter((item) => item.agentId === agentId),
      )
    : [];
  const now = useNow(true);
  const thinking = isAgentThinking(lines, now);
  const lastAgentLine = [...lines].reverse().find((line) => line.isAgent);
  const end = useRef<HTMLDivElement>(null);
  useEffect(() => end.current?.scrollIntoView?.({ block: 'end' }), [lines.length]);

  return (
    <section class="chat" aria-labelledby="chat-title">
      <h2 id="chat-title">Chat with {agentName}</h2>
      {lines.length === 0 ? (
        <p class="empty">{data ? `No messages yet. Say hello to ${agentName}.` : 'Loading the conversation…'}</p>
      ) : (
        <ol class="chat-lines">
          {lines.map((line) => (
            <ChatLineItem key={line.key} line={line} agentName={agentName} />
          ))}
        </ol>
      )}
      {thinking && <p class="thinking">{agentName} is thinking…</p>}
      <div class="visually-hidden" aria-live="polite" aria-atomic="true">
        {lastAgentLine ? `${agentName} said: ${lastAgentLine.text}` : ''}
      </div>
      <div ref={end} />
      <Composer
        agentName={agentName}
        draftKey={`purl-draft-${agentId}`}
        onSend={(text) => {
          sendMessage(agentId, text).catch(() => {
            // Kept in this browser and handed over again; its line says why it is not saved yet.
          });
          askForPersistentStorage();
        }}
      />
    </section>
  );
}
