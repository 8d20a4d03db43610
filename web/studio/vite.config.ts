/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The studio is served by `mlw server` at /studio; its build goes where
// internal/webui embeds it (go:embed), so `go build` picks it up.
export default defineConfig({
  base: "/studio/",
  plugins: [react()],
  build: {
    outDir: "../../internal/webui/build/studio", // relative to this folder
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 800,
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
