import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The gateway the dev server and `vite preview` forward /api to.
const gateway = process.env.ADPILOT_GATEWAY ?? "http://localhost:8080";
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
// The API, and the API reference the Status page links to, both come from the gateway.
const proxy = {
  "/api": { target: gateway, changeOrigin: false },
  "/docs": { target: gateway, changeOrigin: false },
};

export default defineConfig({
  resolve: {
    alias: {
      // The generated API client lives beside the app; its one runtime dependency is
      // installed here, so a build needs nothing installed under clients/.
      "@client": here("../clients/typescript/src/index.ts"),
      "openapi-fetch": here("./node_modules/openapi-fetch"),
    },
  },
  oxc: {
    jsx: { runtime: "automatic", importSource: "preact" },
  },
  server: {
    port: 5173,
    proxy,
    fs: { allow: [here("..")] },
  },
  preview: { port: 4173, proxy },
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: false,
    target: "es2022",
  },
});
