import type { AuthorFilter } from '../../shared/memory-queries';

export interface SearchFormProps {
  text: string;
  author: AuthorFilter;
  agentName: string;
  onText: (text: string) => void;
  onAuthor: (author: AuthorFilter) => void;
}

const authors: readonly AuthorFilter[] = ['all', 'user', 'agent'];

function isAuthorFilter(value: string): value is AuthorFilter {
  return (authors as readonly string[]).includes(value);
}

/** The search field and the author filter; results follow as the reader types. */
export function SearchForm({ text, author, agentName, onText, onAuthor }: SearchFormProps) {
  return (
    // Results update while typing; Enter must not reload the page. (A <search> element would
    // hold no form of its own; role="search" on the form is the landmark screen readers know.)
    // biome-ignore lint/a11y/useSemanticElements: see above
    <form role="search" class="memories-search" onSubmit={(event) => event.preventDefault()}>
      <p class="memories-field">
        <label for="memories-search-text">Search memories</label>
        <input
          id="memories-search-text"
          type="search"
          value={text}
          autocomplete="off"
          spellcheck={false}
          onInput={(event) => onText(event.currentTarget.value)}
        />
      </p>
      <p class="memories-field">
        <label for="memories-author">Written by</label>
        <select
          id="memories-author"
          value={author}
          onChange={(event) => {
            const value = event.currentTarget.value;
            if (isAuthorFilter(value)) onAuthor(value);
          }}
        >
          <option value="all">All</option>
          <option value="user">User</option>
          <option value="agent">Agent ({agentName})</option>
        </select>
      </p>
    </form>
  );
}
