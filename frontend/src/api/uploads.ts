import { api, unwrap } from "./client";
import type { components } from "./schema.gen";

export type UploadResult = components["schemas"]["UploadResult"];

export const UPLOAD_ENDPOINT = "/api/uploads";

export const uploadsApi = {
  result: (uploadId: string) => unwrap<UploadResult>(api.GET("/api/uploads/{upload_id}/result", { params: { path: { upload_id: uploadId } } })),
};

/** The tus upload URL ends with the upload id. */
export function uploadIdFromUrl(url: string): string {
  const path = new URL(url, "http://x").pathname.replace(/\/+$/, "");
  return decodeURIComponent(path.slice(path.lastIndexOf("/") + 1));
}
