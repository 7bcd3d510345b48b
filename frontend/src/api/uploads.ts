import { http } from "./client";
import type { UploadResult } from "./types";

export const UPLOAD_ENDPOINT = "/api/uploads";

export const uploadsApi = {
  result: (uploadId: string) => http<UploadResult>("GET", `/api/uploads/${encodeURIComponent(uploadId)}/result`),
};

/** The tus upload URL ends with the upload id. */
export function uploadIdFromUrl(url: string): string {
  const path = new URL(url, "http://x").pathname.replace(/\/+$/, "");
  return decodeURIComponent(path.slice(path.lastIndexOf("/") + 1));
}
