import { describe, expect, it } from "vitest";
import { checkFile, fileKey, formatBytes, guessStain } from "./files";
import { fraction, isRefusal, timeLeft, uploadReducer, type UploadAction, type UploadEntry } from "./machine";

const base = { caseId: 1, caseNumber: "H1-0001", stain: "pas" as const };
const run = (actions: UploadAction[], start: UploadEntry[] = []) => actions.reduce(uploadReducer, start);
const add = (key: string, size = 1000, invalid?: { code: string }): UploadAction => ({ type: "add", entries: [{ ...base, key, name: `${key}.svs`, size, invalid }] });

describe("upload state machine", () => {
  it("ready → uploading → processing → done", () => {
    let s = run([add("a"), { type: "start", key: "a" }]);
    expect(s[0]!.phase).toBe("uploading");
    s = run([{ type: "progress", key: "a", bytesSent: 100, at: 0 }, { type: "progress", key: "a", bytesSent: 300, at: 1000 }], s);
    expect(s[0]!.bytesSent).toBe(300);
    expect(s[0]!.speed).toBe(200);
    expect(timeLeft(s[0]!)).toBeCloseTo(3.5);
    s = run([{ type: "sent", key: "a", uploadUrl: "/api/uploads/abc" }], s);
    expect(s[0]!.phase).toBe("processing");
    expect(fraction(s[0]!)).toBe(1);
    s = run([{ type: "result", key: "a", status: "processing" }], s);
    expect(s[0]!.phase).toBe("processing");
    s = run([{ type: "result", key: "a", status: "ready", slideId: 7 }], s);
    expect(s[0]).toMatchObject({ phase: "done", outcome: "ready", slideId: 7 });
  });

  it("pause and resume", () => {
    const s = run([add("a"), { type: "start", key: "a" }, { type: "pause", key: "a" }]);
    expect(s[0]!.phase).toBe("paused");
    expect(timeLeft(s[0]!)).toBeNull();
    expect(run([{ type: "resume", key: "a" }], s)[0]!.phase).toBe("uploading");
  });

  it("a failure keeps the server's words and can be retried with another stain", () => {
    let s = run([add("a"), { type: "start", key: "a" }, { type: "fail", key: "a", code: "payload_too_large", detail: "Uploads are limited to 20 GB." }]);
    expect(s[0]).toMatchObject({ phase: "failed", errorCode: "payload_too_large", errorDetail: "Uploads are limited to 20 GB." });
    s = run([{ type: "setStain", key: "a", stain: "pam" }, { type: "start", key: "a" }], s);
    expect(s[0]).toMatchObject({ phase: "uploading", stain: "pam", errorCode: null });
  });

  it("rejected and duplicate results", () => {
    const s = run([add("a"), add("b"), { type: "start", key: "a" }, { type: "start", key: "b" },
      { type: "sent", key: "a", uploadUrl: "u1" }, { type: "sent", key: "b", uploadUrl: "u2" },
      { type: "result", key: "a", status: "rejected", error: "not_a_slide", detail: "OpenSlide cannot read this file." },
      { type: "result", key: "b", status: "duplicate", slideId: 3 }]);
    expect(s[0]).toMatchObject({ phase: "rejected", errorCode: "not_a_slide", errorDetail: "OpenSlide cannot read this file." });
    expect(s[1]).toMatchObject({ phase: "done", outcome: "duplicate", slideId: 3 });
  });

  it("invalid files never start; stain is fixed while uploading; active uploads cannot be removed", () => {
    let s = run([add("bad", 10, { code: "wrong_type" }), { type: "start", key: "bad" }]);
    expect(s[0]).toMatchObject({ phase: "invalid", errorCode: "wrong_type" });
    s = run([add("a"), { type: "start", key: "a" }, { type: "setStain", key: "a", stain: "mt" }, { type: "remove", key: "a" }], s);
    expect(s.find((e) => e.key === "a")).toMatchObject({ stain: "pas", phase: "uploading" });
    s = run([{ type: "remove", key: "bad" }], s);
    expect(s.map((e) => e.key)).toEqual(["a"]);
  });

  it("ignores duplicates of the same file and impossible transitions", () => {
    const s = run([add("a"), add("a"), { type: "pause", key: "a" }, { type: "sent", key: "a", uploadUrl: "x" }, { type: "result", key: "a", status: "ready" }]);
    expect(s).toHaveLength(1);
    expect(s[0]!.phase).toBe("ready");
  });
});

describe("file checks", () => {
  it("accepts slides and zips, explains MRXS/DICOM, refuses others", () => {
    expect(checkFile("a.svs", 10).ok).toBe(true);
    expect(checkFile("A.NDPI", 10).ok).toBe(true);
    expect(checkFile("series.zip", 10).ok).toBe(true);
    expect(checkFile("slide.mrxs", 10)).toEqual({ ok: false, code: "mrxs_needs_zip" });
    expect(checkFile("x.dcm", 10)).toEqual({ ok: false, code: "dicom_needs_zip" });
    expect(checkFile("report.pdf", 10)).toEqual({ ok: false, code: "wrong_type" });
    expect(checkFile("a.svs", 0)).toEqual({ ok: false, code: "empty" });
  });
  it("keys, stains and sizes", () => {
    expect(fileKey({ name: "a.svs", size: 5, lastModified: 9 }, 3)).toBe("3:a.svs:5:9");
    expect(guessStain("B-12_PAS_1.svs")).toBe("pas");
    expect(guessStain("b12-masson.ndpi")).toBe("mt");
    expect(guessStain("b12.svs")).toBeNull();
    expect(formatBytes(1536)).toBe("1.5 KB");
  });
  it("a definitive refusal (415/422) ends in rejected with the server's words, not in a retryable failure", () => {
    const s = run([add("a"), { type: "start", key: "a" }, { type: "refuse", key: "a", code: "unsupported_format", detail: "x.svs is not a whole-slide image" }]);
    expect(s[0]).toMatchObject({ phase: "rejected", errorCode: "unsupported_format", errorDetail: "x.svs is not a whole-slide image" });
    expect(run([add("b"), { type: "refuse", key: "b", code: "x" }])[0]!.phase).toBe("ready");
    expect([415, 422].map(isRefusal)).toEqual([true, true]);
    expect([0, 401, 409, 413, 423, 500, null].map(isRefusal).some(Boolean)).toBe(false);
  });
});
