import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { MemoryRouter } from "react-router";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError, apiErrorFrom } from "../api/errors";
import { http } from "../api/client";
import { onUnauthorized } from "../api/sessionEvents";
import { AuthProvider } from "../auth/AuthProvider";
import i18n from "../i18n";
import { LoginPage } from "../pages/LoginPage";
import { describeTusError } from "../upload/UploadProvider";
import { ErrorMessage } from "./ErrorMessage";

describe("API error parsing", () => {
  it("reads {error, detail}", () => {
    const e = apiErrorFrom(413, { error: "payload_too_large", detail: "Uploads are limited to 20 GB." });
    expect(e).toMatchObject({ status: 413, code: "payload_too_large", detail: "Uploads are limited to 20 GB." });
  });
  it("flattens validation errors and falls back on text", () => {
    expect(apiErrorFrom(422, { error: "validation_error", detail: [{ loc: ["body", "email"], msg: "too short" }] }).detail).toBe("email: too short");
    expect(apiErrorFrom(502, "Bad gateway").code).toBe("http_502");
  });
  it("reads the server's message from a tus error", () => {
    const err = { originalResponse: { getStatus: () => 415, getBody: () => JSON.stringify({ error: "unsupported_media_type", detail: "Not a slide: .pdf" }) } };
    expect(describeTusError(err)).toEqual({ code: "unsupported_media_type", detail: "Not a slide: .pdf" });
    expect(describeTusError(new Error("xhr failed"))).toEqual({ code: "network_error", detail: null });
  });
});

describe("<ErrorMessage>", () => {
  afterEach(() => i18n.changeLanguage("en"));
  it("shows a translated summary and the server's own words", async () => {
    await i18n.changeLanguage("en");
    render(<ErrorMessage error={new ApiError(413, "payload_too_large", "Uploads are limited to 20 GB.")} />);
    expect(screen.getByRole("alert")).toHaveTextContent("The file is too large.");
    expect(screen.getByRole("alert")).toHaveTextContent("Uploads are limited to 20 GB.");
  });
  it("in Japanese", async () => {
    await i18n.changeLanguage("ja");
    render(<ErrorMessage error={new ApiError(0, "network_error", "Failed to fetch")} />);
    expect(screen.getByRole("alert")).toHaveTextContent("サーバーに接続できません");
  });
  it("renders nothing without an error", () => {
    const { container } = render(<ErrorMessage error={null} />);
    expect(container).toBeEmptyDOMElement();
  });
});

describe("API client", () => {
  const fetchMock = vi.fn();
  beforeEach(() => {
    fetchMock.mockReset();
    vi.stubGlobal("fetch", fetchMock);
  });
  afterEach(() => vi.unstubAllGlobals());

  it("announces a 401 outside login so the session dialog can open", async () => {
    fetchMock.mockResolvedValue(new Response(JSON.stringify({ error: "session_expired", detail: "Your session has expired" }), { status: 401 }));
    const seen = vi.fn();
    const off = onUnauthorized(seen);
    await expect(http("GET", "/api/cases")).rejects.toMatchObject({ status: 401, code: "session_expired" });
    off();
    expect(seen).toHaveBeenCalledTimes(1);
  });
  it("turns a failed fetch into a network error", async () => {
    fetchMock.mockRejectedValue(new TypeError("Failed to fetch"));
    await expect(http("GET", "/api/cases")).rejects.toMatchObject({ status: 0, code: "network_error" });
  });

  it("login page shows the server's refusal and keeps what was typed", async () => {
    await i18n.changeLanguage("en");
    fetchMock.mockImplementation(async (input: RequestInfo | URL) => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      return new Response(JSON.stringify(url.endsWith("/me") ? { error: "not_authenticated", detail: "Log in first" } : { error: "invalid_credentials", detail: "Wrong e-mail or password." }), { status: 401, headers: { "Content-Type": "application/json" } });
    });
    const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    render(
      <QueryClientProvider client={qc}>
        <MemoryRouter initialEntries={["/login"]}>
          <AuthProvider>
            <LoginPage />
          </AuthProvider>
        </MemoryRouter>
      </QueryClientProvider>,
    );
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("E-mail"), "path1@h1.example");
    await user.type(screen.getByLabelText("Password"), "nope");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Wrong e-mail or password.");
    expect(screen.getByLabelText("E-mail")).toHaveValue("path1@h1.example");
  });
});
