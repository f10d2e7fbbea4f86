import { describe, expect, it } from 'vitest';
import { noWorkerSentence } from './worker-support';

describe('noWorkerSentence', () => {
  it('says nothing where the worker can run', () => {
    expect(noWorkerSentence({ isSecureContext: true, hasServiceWorker: true, host: 'localhost:5174' })).toBeUndefined();
  });

  it('explains plain http from another machine, naming the host and the fix', () => {
    const sentence = noWorkerSentence({ isSecureContext: false, hasServiceWorker: false, host: '192.168.1.20:5174' });
    expect(sentence).toMatch(/plain http from another machine \(192\.168\.1\.20:5174\)/);
    expect(sentence).toMatch(/TLS_CERT_FILE and TLS_KEY_FILE/);
  });

  it('explains a window without service workers', () => {
    expect(noWorkerSentence({ isSecureContext: true, hasServiceWorker: false, host: 'purl.lan' })).toMatch(/Open Purl in a normal window/);
  });
});
