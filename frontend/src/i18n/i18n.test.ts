import { describe, expect, it } from "vitest";
import { CASE_STATES, FINDINGS, GLOM_STATUSES, STAINS } from "../api/types";
import en from "./locales/en.json";
import ja from "./locales/ja.json";

type Tree = { [k: string]: string | Tree };

function flatten(tree: Tree, prefix = ""): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(tree)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (typeof v === "string") out.set(key, v);
    else for (const [kk, vv] of flatten(v, key)) out.set(kk, vv);
  }
  return out;
}

const EN = flatten(en as Tree);
const JA = flatten(ja as Tree);
const vars = (s: string) => [...s.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]).sort();

// Every source file's text, bundled by Vite (no Node APIs needed in the typed test code).
const SOURCES = import.meta.glob(["../**/*.ts", "../**/*.tsx", "!../**/*.test.ts", "!../**/*.test.tsx"], { query: "?raw", import: "default", eager: true }) as Record<string, string>;

describe("i18n resources", () => {
  it("every English key exists in Japanese", () => {
    const missing = [...EN.keys()].filter((k) => !JA.has(k));
    expect(missing).toEqual([]);
  });
  it("Japanese has no keys English lacks", () => {
    expect([...JA.keys()].filter((k) => !EN.has(k))).toEqual([]);
  });
  it("no empty strings, same interpolation variables", () => {
    for (const [k, v] of EN) {
      expect(v.trim(), `en ${k}`).not.toBe("");
      expect(JA.get(k)?.trim(), `ja ${k}`).not.toBe("");
      expect(vars(JA.get(k) ?? ""), `variables of ${k}`).toEqual(vars(v));
    }
  });
  it("Japanese finding names follow DOMAIN.md", () => {
    expect(JA.get("finding.global_sclerosis")).toBe("全節性硬化");
    expect(JA.get("finding.cellular_crescent")).toBe("細胞性半月体");
    expect(JA.get("finding.fibrinoid_necrosis")).toBe("フィブリノイド壊死");
    expect(JA.get("glomStatus.indeterminate")).toBe("判定保留");
  });
  it("covers every enumerated value the UI translates dynamically", () => {
    const need = [
      ...CASE_STATES.map((s) => `caseState.${s}`),
      ...FINDINGS.flatMap((f) => [`finding.${f}`, `findingShort.${f}`]),
      ...STAINS.map((s) => `stain.${s}`),
      ...GLOM_STATUSES.map((s) => `glomStatus.${s}`),
      ...["report", "ai", "comparison", "clinical", "history"].map((k) => `case.tab.${k}`),
      ...["invalid", "ready", "uploading", "paused", "processing", "done", "rejected", "failed"].map((p) => `upload.phase.${p}`),
      ...["wrong_type", "empty", "mrxs_needs_zip", "dicom_needs_zip", "network_error"].map((c) => `upload.error.${c}`),
    ];
    expect(need.filter((k) => !EN.has(k))).toEqual([]);
  });
  it("every literal key used in the source exists", () => {
    const used = new Set<string>();
    for (const text of Object.values(SOURCES)) {
      for (const m of text.matchAll(/\bt\(\s*"([a-zA-Z0-9_.]+)"/g)) used.add(m[1]!);
    }
    expect(used.size).toBeGreaterThan(50);
    expect([...used].filter((k) => !EN.has(k))).toEqual([]);
  });
});
