/**
 * The browser's offer to install Purl (Chromium's `beforeinstallprompt`), kept until
 * the user takes it up. Other browsers install from their own menus.
 */
import { Subscribable } from './subscribable';

interface InstallPromptEvent extends Event {
  prompt(): Promise<void>;
  userChoice: Promise<{ outcome: 'accepted' | 'dismissed' }>;
}

let offer: InstallPromptEvent | null = null;
const listeners = new Set<(available: boolean) => void>();

addEventListener('beforeinstallprompt', (event) => {
  // Keep the offer for our own button instead of the browser's mini-infobar.
  event.preventDefault();
  offer = event as InstallPromptEvent;
  for (const listener of listeners) listener(true);
});
addEventListener('appinstalled', () => {
  offer = null;
  for (const listener of listeners) listener(false);
});

/** Whether the browser currently offers installation. */
export const installOffer = new Subscribable<boolean>((emit) => {
  listeners.add(emit);
  emit(offer !== null);
  return () => listeners.delete(emit);
});

/** Shows the browser's install dialog; resolves whether the user accepted. */
export async function install(): Promise<boolean> {
  const current = offer;
  if (!current) return false;
  offer = null;
  for (const listener of listeners) listener(false);
  await current.prompt();
  return (await current.userChoice).outcome === 'accepted';
}
