import { render, screen, within } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import i18n from "../i18n";
import { ModelCaveat } from "./ModelCaveat";
import { ModelsView } from "./ModelsPage";

const cls = (key: string, synthetic_only: boolean, auc: number, kappa: number) => ({ key, label_en: key, label_ja: key, t_lo: 0.1, t_hi: 0.9, synthetic_only, metrics: { auc, kappa, n: 40, n_pos: 5, validation: "held-out" } });
const card = {
  key: "glom_classifier", name: "glom_classifier", version: "1.0.0", task: "glomerulus_multilabel_classification", input_mpp: 2, stains: ["pas"],
  classes: [cls("global_sclerosis", false, 0.95, 0.8), cls("cellular_crescent", true, 0.62, 0.5)], synthetic_only: ["cellular_crescent"], synthetic_cohort: false,
  caveat: null, training_data: [{ what: "real PAS crops", source: "Weishaupt 2025", licence: "CC BY-NC-SA 4.0" }], licence: "CC BY-NC-SA 4.0", metrics: {},
  file: { name: "model.onnx", sha256: "ab", size_bytes: 1, present: true, sha256_matches: true }, created: null,
};

describe("model cards", () => {
  afterEach(() => vi.unstubAllGlobals());
  it("shows task, data, licence, metrics per finding, and the synthetic-only findings prominently", async () => {
    vi.stubGlobal("fetch", vi.fn(async (input: RequestInfo | URL) => {
      const url = input instanceof Request ? input.url : String(input);
      const body = url.endsWith("/api/openapi.json") ? { paths: { "/api/models": {} } } : url.endsWith("/api/models") ? { items: [card] } : { ...card, card: {}, card_md: "# glom_classifier" };
      return new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } });
    }));
    const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    render(<QueryClientProvider client={qc}><MemoryRouter><ModelsView /></MemoryRouter></QueryClientProvider>);
    const c = await screen.findByTestId("model-card");
    const warning = within(c).getByTestId("synthetic-only");
    expect(warning).toHaveTextContent("1 findings rest on synthetic data only");
    expect(warning).toHaveTextContent("Cellular crescent");
    expect(c).toHaveTextContent("glomerulus_multilabel_classification");
    expect(c).toHaveTextContent("Weishaupt 2025");
    expect(c.querySelector('tr[data-finding="cellular_crescent"]')).toHaveClass("synthetic-row");
    expect(c.querySelector('tr[data-finding="global_sclerosis"]')).toHaveTextContent("may alert");
    expect(c.querySelector('tr[data-finding="cellular_crescent"]')).toHaveTextContent("never alone");
    expect(await within(c).findByText("Full model card (CARD.md)")).toBeInTheDocument();
  });
  it("a synthetic cohort's caveat is shown in the UI language when its words are known (caveat_code)", async () => {
    const cohort = { ...card, key: "proteinuria", name: "proteinuria", classes: [], synthetic_only: [], synthetic_cohort: true,
      caveat: "SYNTHETIC MODEL: fitted on a computer-generated cohort", caveat_code: "synthetic_cohort_v1" };
    vi.stubGlobal("fetch", vi.fn(async (input: RequestInfo | URL) => {
      const url = input instanceof Request ? input.url : String(input);
      const body = url.endsWith("/api/openapi.json") ? { paths: { "/api/models": {} } } : url.endsWith("/api/models") ? { items: [cohort] } : { ...cohort, card: {}, card_md: "# proteinuria" };
      return new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } });
    }));
    await i18n.changeLanguage("ja");
    try {
      const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
      render(<QueryClientProvider client={qc}><MemoryRouter><ModelsView /></MemoryRouter></QueryClientProvider>);
      const caveat = await screen.findByTestId("card-caveat");
      expect(caveat).toHaveTextContent("合成モデル");
      expect(caveat).not.toHaveTextContent("SYNTHETIC MODEL");
    } finally {
      await i18n.changeLanguage("en");
    }
  });
  it("a detector's synthetic F1 is shown beside its real-tissue figure, never alone", async () => {
    const detector = { ...card, key: "glom_detector", name: "glom_detector", task: "glomerulus_instance_segmentation", synthetic_only: [],
      classes: [{ key: "glomerulus", label_en: null, label_ja: null, t_lo: null, t_hi: null, synthetic_only: false, metrics: {} }],
      metrics: {
        held_out_synthetic: { by_stain_and_kind: { all: { tp: 235, fp: 4, fn: 0, precision: 0.9833, recall: 1.0, f1: 0.9916 } } },
        real_tissue_stitched: { heldout: { tp: 6, fp: 3, fn: 2, scorable: 8, precision: 0.6667, recall: 0.75, f1: 0.7059 } },
      } };
    vi.stubGlobal("fetch", vi.fn(async (input: RequestInfo | URL) => {
      const url = input instanceof Request ? input.url : String(input);
      const body = url.endsWith("/api/openapi.json") ? { paths: { "/api/models": {} } } : url.endsWith("/api/models") ? { items: [detector] } : { ...detector, card: {}, card_md: "# glom_detector" };
      return new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } });
    }));
    const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    render(<QueryClientProvider client={qc}><MemoryRouter><ModelsView /></MemoryRouter></QueryClientProvider>);
    const table = await screen.findByTestId("detection-figures");
    const syn = table.querySelector('tr[data-kind="synthetic"]');
    const real = table.querySelector('tr[data-kind="real_stitched"]');
    expect(syn).toHaveTextContent("235 / 4 / 0");
    expect(syn).toHaveTextContent("0.992");
    expect(real).toHaveTextContent("Real PAS tissue, whole pipeline");
    expect(real).toHaveTextContent("8");
    expect(real).toHaveTextContent("6 / 3 / 2");
    expect(real).toHaveTextContent("0.706");
    expect(screen.getByText(/read it as a warning, not an accuracy/)).toBeInTheDocument();
  });
  it("the caveat beside AI numbers links to the card", () => {
    render(<MemoryRouter><ModelCaveat model="glom_classifier" /></MemoryRouter>);
    expect(screen.getByTestId("model-caveat")).toHaveTextContent("research model — see card");
    expect(screen.getByRole("link", { name: "see card" })).toHaveAttribute("href", "/models#glom_classifier");
  });
});
