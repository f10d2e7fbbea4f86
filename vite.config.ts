import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

/** Where `npm run dev` finds the gateway (API, config, Socket.IO) behind Vite. */
const gateway = process.env['PURL_DEV_GATEWAY'] ?? 'http://127.0.0.1:5174';

export default defineConfig({
  plugins: [
    preact(),
    VitePWA({
      strategies: 'injectManifest',
      srcDir: 'sw',
      filename: 'sw.ts',
      injectRegister: false,
      registerType: 'prompt',
      injectManifest: {
        // The plugin adds the icons and the manifest itself; listing them here too
        // would precache them twice.
        globPatterns: ['**/*.{js,css,html}'],
      },
      includeAssets: ['icons/icon.svg', 'robots.txt'],
      manifest: {
        id: '/',
        name: 'Purl — ElizaOS client',
        short_name: 'Purl',
        description: "Read your ElizaOS agent's memories and chat with it, online or offline, without tripping its rate limit.",
        start_url: '/',
        scope: '/',
        display: 'standalone',
        theme_color: '#4b3f8f',
        background_color: '#f7f6fb',
        icons: [
          { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
          { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
          { src: '/icons/maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
      devOptions: { enabled: true, type: 'module', navigateFallback: 'index.html' },
    }),
  ],
  server: {
    host: '127.0.0.1',
    port: 5173,
    proxy: {
      '/api': gateway,
      '/config.json': gateway,
      '/health': gateway,
    },
  },
  build: { target: 'es2022', sourcemap: false },
});
