/**
 * Purl's data path is its service worker; a browser that gives the page none (plain http
 * from another machine, some private windows) would otherwise show "waiting" forever
 * and never send what the user types. This says why, and what to do, in one sentence.
 */

export interface WorkerSupport {
  isSecureContext: boolean;
  hasServiceWorker: boolean;
  /** `location.host` */
  host: string;
}

export function noWorkerSentence({ isSecureContext, hasServiceWorker, host }: WorkerSupport): string | undefined {
  if (!isSecureContext) {
    return (
      `Purl can't work on this page: it was opened over plain http from another machine (${host}), and browsers give such pages no service worker. ` +
      'Open it over https (start Purl with TLS_CERT_FILE and TLS_KEY_FILE), or on the machine that runs Purl as http://localhost.'
    );
  }
  if (!hasServiceWorker) {
    return "Purl can't work in this window: the browser allows it no service worker here (some private windows don't). Open Purl in a normal window.";
  }
  return undefined;
}

/** What this page's browser offers. */
export function currentWorkerSupport(): WorkerSupport {
  return { isSecureContext: globalThis.isSecureContext, hasServiceWorker: 'serviceWorker' in navigator, host: location.host };
}
