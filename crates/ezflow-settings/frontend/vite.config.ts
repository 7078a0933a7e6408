// Vite bundles the page for the Tauri window: relative asset paths, no
// source maps shipped, each page but General in its own chunk (dynamic
// import()). Vitest runs the unit tests in happy-dom.
import { defineConfig } from "vitest/config";

export default defineConfig({
  base: "./",
  clearScreen: false,
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
  test: {
    environment: "happy-dom",
    include: ["test/**/*.test.ts"],
  },
});
