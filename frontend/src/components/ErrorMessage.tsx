import { useTranslation } from "react-i18next";
import { ApiError } from "../api/errors";

/** Title for an error: known codes have their own words; otherwise by HTTP status class. */
export function errorTitleKey(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 0) return "errors.network_error";
    if (error.status === 401) return "errors.session_expired";
    if (error.status === 403) return "errors.forbidden";
    if (error.status === 404) return "errors.not_found";
    if (error.status === 409) return "errors.conflict";
    if (error.status === 413) return "errors.payload_too_large";
    if (error.status === 415) return "errors.unsupported_media_type";
    if (error.status === 422 || error.status === 400) return "errors.bad_request";
    if (error.status >= 500) return "errors.server_error";
  }
  return "errors.unexpected";
}

/** Shows an API error plainly: a translated summary and the server's own message. */
export function ErrorMessage({ error, compact = false }: { error: unknown; compact?: boolean }) {
  const { t } = useTranslation();
  if (!error) return null;
  const detail = error instanceof ApiError ? error.detail : error instanceof Error ? error.message : String(error);
  return (
    <div className={compact ? "error-msg compact" : "error-msg"} role="alert">
      <strong>{t(errorTitleKey(error))}</strong>
      {detail ? <span className="error-detail">{detail}</span> : null}
    </div>
  );
}
