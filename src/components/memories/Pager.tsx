import { countOf } from './text';

export interface PagerProps {
  /** The first item shown, from 0. */
  offset: number;
  pageSize: number;
  total: number;
  /** What is paged, for the navigation landmark: "Conversation pages". */
  label: string;
  /** The noun for the count line: "conversation". */
  noun: string;
  onPage: (offset: number) => void;
}

/** Previous / Next through a list too long to show whole; nothing when it fits on one page. */
export function Pager({ offset, pageSize, total, label, noun, onPage }: PagerProps) {
  if (total <= pageSize) return null;
  const last = Math.min(offset + pageSize, total);
  return (
    <nav class="memories-pager" aria-label={label}>
      <p>
        {offset + 1}–{last} of {countOf(total, noun)}
      </p>
      <button type="button" disabled={offset === 0} onClick={() => onPage(Math.max(0, offset - pageSize))}>
        Previous
      </button>
      <button type="button" disabled={last >= total} onClick={() => onPage(offset + pageSize)}>
        Next
      </button>
    </nav>
  );
}
