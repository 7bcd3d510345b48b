/** Every API error is JSON {error: code, detail: message}; this class carries it through the UI. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;

  constructor(status: number, code: string, detail: string) {
    super(detail || code);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail;
  }

  get isUnauthorized(): boolean {
    return this.status === 401;
  }

  get isNetwork(): boolean {
    return this.status === 0;
  }
}

/** Build an ApiError from a parsed body (whatever shape it has) and the HTTP status. */
export function apiErrorFrom(status: number, body: unknown, fallback = ""): ApiError {
  if (body && typeof body === "object") {
    const b = body as Record<string, unknown>;
    const code = typeof b.error === "string" ? b.error : `http_${status}`;
    let detail = "";
    if (typeof b.detail === "string") detail = b.detail;
    else if (Array.isArray(b.detail)) {
      // FastAPI validation errors: [{loc, msg}]
      detail = b.detail
        .map((d) => {
          const item = d as { loc?: unknown[]; msg?: string };
          const loc = Array.isArray(item.loc) ? item.loc.filter((x) => x !== "body").join(".") : "";
          return loc ? `${loc}: ${item.msg ?? ""}` : (item.msg ?? "");
        })
        .join("; ");
    }
    return new ApiError(status, code, detail || fallback);
  }
  if (typeof body === "string" && body.trim()) return new ApiError(status, `http_${status}`, body.trim().slice(0, 500));
  return new ApiError(status, `http_${status}`, fallback);
}

export async function apiErrorFromResponse(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => "");
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: keep the text */
  }
  return apiErrorFrom(res.status, body, res.statusText);
}

export function networkError(cause: unknown): ApiError {
  const msg = cause instanceof Error ? cause.message : String(cause);
  return new ApiError(0, "network_error", msg);
}
