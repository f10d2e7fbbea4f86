/**
 * Serves the built app with caching that fits a PWA: content-hashed assets are
 * immutable; the service worker, the page and the manifest are revalidated on every
 * load, so an update is seen at once; anything else may be cached for an hour.
 */
import fs from 'node:fs';
import path from 'node:path';
import express, { type RequestHandler, type Response } from 'express';

const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';
const SHORT = 'public, max-age=3600';

/** The policy for one file of dist/, by its path relative to dist/. */
export function cacheControlFor(relativePath: string): string {
  const file = relativePath.split(path.sep).join('/');
  if (file.startsWith('assets/')) return IMMUTABLE;
  if (/^(sw\.js|index\.html|manifest\.webmanifest|registerSW\.js|workbox-[\w-]+\.js)$/.test(file)) return REVALIDATE;
  return SHORT;
}

/**
 * Defence in depth for the page: agent text is rendered as text, and even if it were
 * not, no inline or foreign script could run.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self'",
  "manifest-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

function setPageHeaders(res: Response): void {
  res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  res.setHeader('Cache-Control', REVALIDATE);
}

export function serveApp(distDir: string): RequestHandler[] {
  const indexFile = path.join(distDir, 'index.html');
  const files = express.static(distDir, {
    index: false,
    setHeaders: (res, filePath) => {
      const relative = path.relative(distDir, filePath);
      res.setHeader('Cache-Control', cacheControlFor(relative));
      if (relative === 'index.html') setPageHeaders(res);
    },
  });
  const page: RequestHandler = (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (!req.accepts('html')) return next();
    if (!fs.existsSync(indexFile)) {
      res.status(503).type('text/plain').send("Purl isn't built yet. Run `npm run build` (or `npm start`, which builds it).");
      return;
    }
    setPageHeaders(res);
    res.sendFile(indexFile);
  };
  return [files, page];
}
