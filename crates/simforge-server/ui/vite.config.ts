import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

// The Rust server serves dist/index.html at `/` and `/ui/*`, and dist/assets/* at
// `/assets/*`. Output must be byte-for-byte reproducible: CI rebuilds and runs
// `git diff --exit-code ui/dist`, so no timestamps, no source maps with absolute paths.
export default defineConfig({
  base: '/',
  plugins: [preact()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2020',
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
  },
});
