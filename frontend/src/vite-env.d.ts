/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** "1" to include the /bench/overlay route (set by `--mode bench`, see .env.bench). */
  readonly VITE_GLOMCHECK_BENCH?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
