import { useState } from 'preact/hooks';
import { MAX_MESSAGE_LENGTH } from '../../shared/api';

export interface ComposerProps {
  agentName: string;
  /** Storage key for the draft, so a reload or a crash loses nothing typed. */
  draftKey: string;
  onSend: (text: string) => void;
}

function readDraft(key: string): string {
  try {
    return localStorage.getItem(key) ?? '';
  } catch {
    return '';
  }
}

function writeDraft(key: string, text: string): void {
  try {
    if (text) localStorage.setItem(key, text);
    else localStorage.removeItem(key);
  } catch {
    // Storage blocked: the draft lives only on screen.
  }
}

/** The message box: Enter sends, Shift+Enter starts a new line; never refuses what was typed. */
export function Composer({ agentName, draftKey, onSend }: ComposerProps) {
  const [text, setText] = useState(() => readDraft(draftKey));
  const tooLong = text.length > MAX_MESSAGE_LENGTH;
  const update = (value: string) => {
    setText(value);
    writeDraft(draftKey, value);
  };
  const submit = () => {
    if (!text.trim() || tooLong) return;
    onSend(text);
    update('');
  };
  return (
    <form
      class="composer"
      onSubmit={(event) => {
        event.preventDefault();
        submit();
      }}
    >
      <label for="composer-text">Message to {agentName}</label>
      <textarea
        id="composer-text"
        rows={2}
        value={text}
        aria-describedby="composer-hint"
        onInput={(event) => update(event.currentTarget.value)}
        onKeyDown={(event) => {
          if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
            event.preventDefault();
            submit();
          }
        }}
      />
      <p id="composer-hint" class={tooLong ? 'composer-hint error' : 'composer-hint'}>
        {tooLong
          ? `${text.length - MAX_MESSAGE_LENGTH} characters over the limit of ${MAX_MESSAGE_LENGTH}; shorten it to send.`
          : 'Enter sends, Shift+Enter starts a new line. Messages wait safely when you are offline.'}
      </p>
      <button type="submit" disabled={!text.trim() || tooLong}>
        Send
      </button>
    </form>
  );
}
