/**
 * The view in the URL hash, so reload and back work: `#/memories…` (the default) or
 * `#/chat`. Anything else reads as the memories view.
 */
import { useEffect, useState } from 'preact/hooks';

export type View = 'memories' | 'chat';

export function viewOf(hash: string): View {
  return /^#\/chat(\/|$)/.test(hash) ? 'chat' : 'memories';
}

export function useView(): View {
  const [view, setView] = useState(() => viewOf(location.hash));
  useEffect(() => {
    const update = () => setView(viewOf(location.hash));
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return view;
}
