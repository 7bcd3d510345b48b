"""Measure the shipped models on held-out data, store the figures in card.json and render CARD.md.

Runs the real pipeline (ONNX, not torch) so the card describes the artefact that ships.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from app.slides.reader import SlideReader
from models.training.data import find_slides
from worker.evaluation.detection import evaluate_prediction, prf
from worker.evaluation.fields import evaluate_fields
from worker.pipeline.models import CLASSIFIER, DETECTOR, MODELS_DIR, load_model, read_card
from worker.pipeline.run import _cached_model, analyze_slide_file


def detector_metrics(val_slides: list[Path], fields: Path | None, *, models_dir: Path | None = None,
                     fields_split: str = "all", log: Any = print) -> dict[str, Any]:
    """Per-slide and per-(stain, kind) detection figures at IoU ≥ 0.5, plus the real fields."""
    _cached_model.cache_clear()
    per: list[dict[str, Any]] = []
    for slide, gj in find_slides(val_slides):
        t0 = time.perf_counter()
        with SlideReader(slide) as r:
            res = analyze_slide_file(r, models_dir=models_dir).to_dict()
        ev = evaluate_prediction(res, gj)
        truth = json.loads(gj.read_text())
        stain = truth.get("properties", {}).get("stain", "?")
        kind = "composited" if truth.get("properties", {}).get("composited") else "drawn"
        d = ev["detection"]
        per.append({"slide": slide.name, "stain": stain, "kind": kind, **{k: d[k] for k in
                    ("tp", "fp", "fn", "duplicates", "precision", "recall", "f1", "mean_iou")},
                    "seconds": round(time.perf_counter() - t0, 2)})
        log(f"{slide.name}: {stain} {kind} P {d['precision']} R {d['recall']} F1 {d['f1']} dup {d['duplicates']}")
    groups: dict[str, Any] = {}
    for row in per:
        for key in (f"{row['stain']}/{row['kind']}", "all"):
            g = groups.setdefault(key, {"tp": 0, "fp": 0, "fn": 0, "duplicates": 0, "slides": 0})
            for k in ("tp", "fp", "fn", "duplicates"):
                g[k] += row[k]
            g["slides"] += 1
    for g in groups.values():
        g.update(prf(g["tp"], g["fp"], g["fn"]))
    out: dict[str, Any] = {"held_out_synthetic": {"iou_min": 0.5, "by_stain_and_kind": groups, "per_slide": per}}
    if fields is not None:
        det = load_model(DETECTOR, models_dir=models_dir)
        fr = evaluate_fields(fields, det, split=fields_split)
        out["real_fields_aidpath_pas"] = {k: fr[k] for k in ("fields", "tp", "fp", "fn", "dont_care", "precision",
                                                             "recall", "f1", "field_mpp_assumed", "split")}
        out["real_fields_aidpath_pas"]["field_names"] = [r["field"] for r in fr["per_field"]]
        log(f"real fields ({fields_split}): P {fr['precision']} R {fr['recall']} F1 {fr['f1']}")
        out["real_fields_two_scorings"] = fields_two_scorings(fields, det)
        out["real_tissue_stitched"] = stitched_figures(fields, models_dir=models_dir)
    return out


FIELD_KEYS = ("fields", "tp", "fp", "fn", "duplicates", "dont_care", "precision", "recall", "f1", "scorable",
              "visible_tp", "visible_fp", "visible_fn", "visible_duplicates", "visible_dont_care", "visible_precision",
              "visible_recall", "visible_f1", "visible_scorable", "visible_min_area_px", "field_mpp_assumed")


def fields_two_scorings(fields: Path, det: Any) -> dict[str, Any]:
    """Primary (edge-cut = don't care) and visible-part figures of one detector on each fixed half and on all fields."""
    out: dict[str, Any] = {}
    for split in ("heldout", "train", "all"):
        fr = evaluate_fields(fields, det, split=split)
        out[split] = {k: fr[k] for k in FIELD_KEYS}
    return out


STITCHED_KEYS = ("tp", "fp", "fn", "duplicates", "precision", "recall", "f1", "scorable", "dont_care")


def stitched_figures(fields: Path, *, models_dir: Path | None = None) -> dict[str, Any]:
    """The whole pipeline on the fields stitched back into their tissue (`evaluate_mosaics`), per half and all.

    Why it is recorded beside the field scorings: it is the only real-tissue figure in which glomeruli cut
    by a shared field edge are whole and scored, and in which detection runs exactly as on an uploaded slide.
    """
    from worker.evaluation.mosaics import evaluate_mosaics

    out: dict[str, Any] = {}
    for split in ("heldout", "train", "all"):
        mo = evaluate_mosaics(fields, split=split, models_dir=models_dir)
        out[split] = {**{k: mo[k] for k in STITCHED_KEYS}, "field_mpp_assumed": mo["field_mpp_assumed"],
                      "groups": [{k: g[k] for k in ("fields", "scorable", "dont_care", "n_pred", "tp", "fp", "fn")}
                                 for g in mo["groups"]]}
    return out


def update_fields_two_scorings(fields: Path, models_dir: Path | None = None, log: Any = print) -> dict[str, Any]:
    """Add both real-field scorings and the stitched-tissue figure of the shipped detector to its card; re-render CARD.md.

    Only the real fields are re-run: the held-out synthetic figures already in the card are kept as they
    are (the slides need not be on this machine), as is the primary held-out figure.
    """
    base = models_dir or MODELS_DIR
    card = read_card(base / DETECTOR)
    both = fields_two_scorings(fields, load_model(DETECTOR, models_dir=base))
    card.setdefault("metrics", {})["real_fields_two_scorings"] = both
    card["metrics"]["real_tissue_stitched"] = stitched_figures(fields, models_dir=models_dir)
    (base / DETECTOR / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    render_card_md(base / DETECTOR)
    log(json.dumps(both))
    return both


def _flatten_io(card: dict[str, Any]) -> None:
    inp = card.get("input", {})
    for key, src in (("input_mpp", "mpp"), ("tile_size", "tile"), ("crop_size", "crop"), ("stride", "stride"),
                     ("normalisation", "normalisation")):
        card.setdefault(key, inp.get(src))


def update_detector_card(metrics: dict[str, Any], models_dir: Path | None = None) -> dict[str, Any]:
    """Store measured figures in the detector card (the SHA-256 of model.onnx is left untouched)."""
    base = models_dir or MODELS_DIR
    card = read_card(base / DETECTOR)
    card["metrics"] = metrics
    for name, c in ((DETECTOR, card), (CLASSIFIER, read_card(base / CLASSIFIER))):
        _flatten_io(c)
        (base / name / "card.json").write_text(json.dumps(c, indent=2, ensure_ascii=False) + "\n")
    return card


DETECTOR_RATIONALE = """## Working resolution: 2 µm/px

Glomeruli are 150–250 µm across, i.e. 75–125 px at 2 µm/px: enough to see Bowman's capsule, the tuft
and its capillary loops, while a 768-px tile covers 1.5 mm of tissue with its context. The research group
that started this work ran its published detector at about 1.8 µm/px; 2 µm/px is the nearest value that
is an exact power-of-two pyramid level of 40× (0.25 µm/px ×8) and 20× (0.5 µm/px ×4) scans, so tiles are
read without resampling. It also bounds compute on 2 CPU cores: a 1.5 cm biopsy is ~10 Mpx of tissue at
this resolution. The output map is at 4 µm/px (stride 2), which limits polygon precision to about ±2 µm.
Tiles overlap by 128 px (256 µm ≥ the largest glomerulus) and their 64-px inner borders are discarded
before stitching a slide-wide probability map; instances are extracted once from that map, so a
glomerulus crossing a tile border can be neither split nor duplicated. Tiles were 512 px (stride 384) up to
v1.3.0; v1.3.1 is the same network run on 768-px tiles (stride 640, same overlap and trim), adopted by trial
T3 below: the same or fewer errors on held-out slides, and on the pipeline bench slide 38 % fewer pixels
through the network (14.1 vs 22.8 Mpx for 11.8 vs 13.3 Mpx of tiled area: a tile's 128-px overlap is a smaller
share of a larger tile), 14 % less end-to-end time and 20 % less CPU in the trial (27 % and 30 % over five pairs)."""


DATA_FIELDS = "/work/shared/data/fields/aidpath-pas"


def _prf(d: dict[str, Any]) -> str:
    """Detection counts and rates as the card words them."""
    return (f"TP {d['tp']}, FP {d['fp']}, FN {d['fn']}, precision {d['precision']}, recall {d['recall']}, "
            f"F1 {d['f1']}")


def _fmt(v: Any) -> str:
    return "–" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


MIN_GROUP_F1 = 0.95  # every held-out synthetic stain × kind group must stay at or above this (trial rules)


def trial_figures(m: dict[str, Any]) -> dict[str, Any]:
    """The figures a recipe trial decides on, from detector metrics (detector_metrics + fields_two_scorings)."""
    groups = m["held_out_synthetic"]["by_stain_and_kind"]
    per_group = {k: g for k, g in groups.items() if k != "all"}
    worst = min(per_group, key=lambda k: per_group[k]["f1"])
    both = m["real_fields_two_scorings"]
    out: dict[str, Any] = {"synthetic_all": {k: groups["all"][k] for k in ("slides", "tp", "fp", "fn", "duplicates",
                                                                             "precision", "recall", "f1")},
                           "synthetic_min_group": {"group": worst, "f1": per_group[worst]["f1"]},
                           "synthetic_by_stain_and_kind": groups}
    for split in ("heldout", "train", "all"):
        d = both[split]
        out[f"fields_{split}"] = {k: d[k] for k in ("fields", "scorable", "tp", "fp", "fn", "f1", "visible_scorable",
                                                    "visible_tp", "visible_fp", "visible_fn", "visible_precision",
                                                    "visible_recall", "visible_f1")}
        out[f"fields_{split}"].update(precision=d["precision"], recall=d["recall"])
        if m.get("real_tissue_stitched", {}).get(split):
            out[f"stitched_{split}"] = {k: m["real_tissue_stitched"][split][k] for k in STITCHED_KEYS}
    return out


def _synthetic_ok(figures: dict[str, Any]) -> bool:
    """Every held-out synthetic stain × kind F1 ≥ MIN_GROUP_F1 and no duplicates: the criterion every trial keeps."""
    groups = {k: g for k, g in figures["synthetic_by_stain_and_kind"].items() if k != "all"}
    return all(g["f1"] >= MIN_GROUP_F1 for g in groups.values()) and figures["synthetic_all"]["duplicates"] == 0


def trial_decision(shipped: dict[str, Any], candidate: dict[str, Any]) -> dict[str, Any]:
    """The pre-registered rule of models/glom_detector/TRIALS.md (T1), applied to two `trial_figures`.

    (a) held-out visible-part F1 strictly higher, (b) held-out primary F1 not lower, (c) every held-out synthetic
    stain × kind F1 ≥ MIN_GROUP_F1 and 0 duplicates. Adopt iff all hold.
    """
    hs, hc = shipped["fields_heldout"], candidate["fields_heldout"]
    crit = {
        "(a) held-out visible-part F1 higher": hc["visible_f1"] > hs["visible_f1"],
        "(b) held-out primary F1 not worse": hc["f1"] >= hs["f1"],
        f"(c) every synthetic stain × kind F1 ≥ {MIN_GROUP_F1}, 0 duplicates": _synthetic_ok(candidate),
    }
    return {"criteria": crit, "adopt": all(crit.values())}


T3_MAX_F1_LOSS = 0.005  # T3 (TRIALS.md): held-out synthetic F1 may fall by at most this (about one error in ~240)
T3_MIN_SPEEDUP = 0.10  # T3: the candidate's end-to-end time must be at least this fraction below the control's


def tiling_decision(control: dict[str, Any], candidate: dict[str, Any]) -> dict[str, Any]:
    """The pre-registered T3 rule (models/glom_detector/TRIALS.md) on two inference settings of the same weights.

    Each argument: {"synthetic_all", "synthetic_min_group", "synthetic_by_stain_and_kind" (as `trial_figures`),
    "stitched_heldout" ({tp, fp, fn, f1}), "bench" ({"end_to_end_s": [two run medians], ...})}.
    """
    ks, cs = candidate["stitched_heldout"], control["stitched_heldout"]
    t_ctl = statistics.median(control["bench"]["end_to_end_s"])
    t_cand = statistics.median(candidate["bench"]["end_to_end_s"])
    crit = {
        (f"(a) every synthetic stain × kind F1 ≥ {MIN_GROUP_F1}, 0 duplicates, overall F1 ≥ the control's − "
         f"{T3_MAX_F1_LOSS}"): (_synthetic_ok(candidate)
                                and candidate["synthetic_all"]["f1"] >= control["synthetic_all"]["f1"] - T3_MAX_F1_LOSS),
        "(b) held-out stitched tissue: TP not lower, FP not higher": ks["tp"] >= cs["tp"] and ks["fp"] <= cs["fp"],
        f"(c) end to end at least {T3_MIN_SPEEDUP:.0%} faster": t_cand <= (1 - T3_MIN_SPEEDUP) * t_ctl,
    }
    return {"criteria": crit, "adopt": all(crit.values()), "speedup": round(1 - t_cand / t_ctl, 3)}


T2_MIN_GAIN = 0.10  # T2 (TRIALS.md): the candidate's 2-seed mean held-out stitched-tissue F1 must exceed the control's by this


def _mean(xs: list[float]) -> float:
    return round(sum(xs) / len(xs), 4) if xs else 0.0


def seed_arms_decision(control: list[dict[str, Any]], candidate: list[dict[str, Any]],
                       shipped_seed: dict[str, Any]) -> dict[str, Any]:
    """The pre-registered T2 rule (models/glom_detector/TRIALS.md) on `trial_figures` of each seed of both arms.

    (a) mean held-out stitched-tissue F1 of the candidate ≥ the control's mean + T2_MIN_GAIN; (b) mean held-out
    visible-part field F1 not lower than the control's; (c) the candidate seed that would ship: every held-out
    synthetic stain × kind F1 ≥ MIN_GROUP_F1 and 0 duplicates. Means over seeds because one retraining of the same
    recipe moved the held-out figures as much as the effects tested (T1).
    """
    def means(arm: list[dict[str, Any]]) -> dict[str, float]:
        return {"stitched_f1": _mean([x["stitched_heldout"]["f1"] for x in arm]),
                "visible_f1": _mean([x["fields_heldout"]["visible_f1"] for x in arm]),
                "primary_f1": _mean([x["fields_heldout"]["f1"] for x in arm])}

    mc, mk = means(control), means(candidate)
    crit = {
        f"(a) mean held-out stitched-tissue F1 ≥ control + {T2_MIN_GAIN}": mk["stitched_f1"] >= round(mc["stitched_f1"] + T2_MIN_GAIN, 4),
        "(b) mean held-out visible-part F1 not lower": mk["visible_f1"] >= mc["visible_f1"],
        f"(c) shipped seed: every synthetic stain × kind F1 ≥ {MIN_GROUP_F1}, 0 duplicates": _synthetic_ok(shipped_seed),
    }
    return {"criteria": crit, "adopt": all(crit.values()), "means": {"control": mc, "candidate": mk}}


def _trial_head(t: dict[str, Any], before: str = "training") -> list[str]:
    """A trial's heading and when and where its rule was registered (before `before`)."""
    return ["", f"### {t['id']}: {t['title']}", "",
            (f"Registered {t['registered_utc']} UTC before {before}, in `{t['rule_file']}` (commit {t['rule_commit']}); "
             f"not revised after. Candidate: {t['candidate']} Rule: {t['rule']}"), ""]


def _trial_decision_md(t: dict[str, Any]) -> list[str]:
    """Each criterion met or not, then the decision."""
    crit = t["decision"]["criteria"]
    return ["", ("Criteria: " + "; ".join(f"{k}: {'met' if v else 'not met'}" for k, v in crit.items())
                 + f". **Decision: {t['outcome']}.**" + (f" {t['note']}" if t.get("note") else ""))]


def _seed_arms_md(t: dict[str, Any]) -> list[str]:
    """A trial decided over several seeds per arm: one row per arm and seed, then the arm means."""
    lines = [*_trial_head(t),
             ("| arm | seed | held-out stitched tissue: whole | TP/FP/FN | F1 | held-out fields, visible part: scorable | "
              "TP/FP/FN | F1 | primary: scorable | TP/FP/FN | F1 | train half stitched F1 | held-out synthetic F1 (all) | "
              "lowest stain × kind F1 | duplicates | SHA-256 |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for arm, runs in t["arms"].items():
        for r in runs:
            x = r["figures"]
            st, h, tr = x["stitched_heldout"], x["fields_heldout"], x.get("stitched_train") or {}
            sa, mg = x.get("synthetic_all"), x.get("synthetic_min_group")
            low = f"{mg['f1']} ({mg['group']})" if mg else "–"
            lines.append(f"| {arm} | {r['seed']} | {st['scorable']} | {st['tp']}/{st['fp']}/{st['fn']} | {st['f1']} | "
                         f"{h['visible_scorable']} | {h['visible_tp']}/{h['visible_fp']}/{h['visible_fn']} | {h['visible_f1']} | "
                         f"{h['scorable']} | {h['tp']}/{h['fp']}/{h['fn']} | {h['f1']} | {tr.get('f1', '–')} | "
                         f"{sa['f1'] if sa else '–'} | {low} | "
                         f"{sa['duplicates'] if sa else '–'} | {(r.get('sha256') or '')[:12]}… |")
    lines += ["", "| arm | seeds | mean held-out stitched F1 | mean held-out visible-part F1 | mean held-out primary F1 |",
              "|---|---|---|---|---|"]
    for arm, mm in t["decision"]["means"].items():
        name = next(k for k in t["arms"] if k.startswith(arm))
        lines.append(f"| {name} | {len(t['arms'][name])} | {mm['stitched_f1']} | {mm['visible_f1']} | {mm['primary_f1']} |")
    lines += _trial_decision_md(t)
    return lines + _synthetic_groups_md(t.get("shipped_seed_name"), t.get("shipped_seed_synthetic"))


def _inference_trial_md(t: dict[str, Any]) -> list[str]:
    """A trial of inference settings (same weights): held-out detection and bench speed of each setting."""
    lines = [*_trial_head(t, before="its detection figures were computed"),
             ("| setting | tiles on the bench slide | held-out synthetic TP/FP/FN | F1 | lowest stain × kind F1 | duplicates | "
              "held-out stitched tissue TP/FP/FN | F1 | bench end to end, two runs (s) | CPU s, two runs |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, x in t["settings"].items():
        sa, mg, st, b = x["synthetic_all"], x["synthetic_min_group"], x["stitched_heldout"], x["bench"]
        lines.append(f"| {name} | {b['tiles']} | {sa['tp']}/{sa['fp']}/{sa['fn']} | {sa['f1']} | {mg['f1']} ({mg['group']}) | "
                     f"{sa['duplicates']} | {st['tp']}/{st['fp']}/{st['fn']} | {st['f1']} | "
                     f"{' / '.join(str(v) for v in b['end_to_end_s'])} | {' / '.join(str(v) for v in b['cpu_s'])} |")
    lines += _trial_decision_md(t)
    cand = t.get("candidate_name")
    return lines + _synthetic_groups_md(cand, (t["settings"].get(cand) or {}).get("synthetic_by_stain_and_kind") if cand else None)


def _trial_md(t: dict[str, Any]) -> list[str]:
    """One recipe trial: rule, the figures of both models side by side, decision."""
    if "settings" in t:
        return _inference_trial_md(t)
    if "arms" in t:
        return _seed_arms_md(t)
    f = t["figures"]
    lines = [*_trial_head(t),
             ("| model | held-out fields, primary: scorable | TP/FP/FN | F1 | visible part: scorable | TP/FP/FN | F1 | "
              "train half, visible F1 | held-out synthetic F1 (all) | lowest stain × kind F1 | duplicates |"),
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, x in f.items():
        h, tr = x["fields_heldout"], x["fields_train"]
        sa, mg = x["synthetic_all"], x["synthetic_min_group"]
        lines.append(f"| {name} | {h['scorable']} | {h['tp']}/{h['fp']}/{h['fn']} | {h['f1']} | {h['visible_scorable']} | "
                     f"{h['visible_tp']}/{h['visible_fp']}/{h['visible_fn']} | {h['visible_f1']} | {tr['visible_f1']} | "
                     f"{sa['f1']} | {mg['f1']} ({mg['group']}) | {sa['duplicates']} |")
    lines += _trial_decision_md(t)
    rv = t.get("reverse_fold")
    if rv:
        lines += ["", f"Reverse fold, for information only (not part of the rule; trained after the decision): {rv['what']}", "",
                  ("| recipe | reverse fold, primary TP/FP/FN | F1 | visible part TP/FP/FN | F1 | both folds pooled, primary "
                   "TP/FP/FN | F1 | pooled visible part TP/FP/FN | F1 |"), "|---|---|---|---|---|---|---|---|---|"]
        for name, r in rv["rows"].items():
            a, b, pa, pb = r["reverse"], r["reverse_visible"], r["pooled"], r["pooled_visible"]
            lines.append(f"| {name} | {a['tp']}/{a['fp']}/{a['fn']} | {a['f1']} | {b['tp']}/{b['fp']}/{b['fn']} | {b['f1']} | "
                         f"{pa['tp']}/{pa['fp']}/{pa['fn']} | {pa['f1']} | {pb['tp']}/{pb['fp']}/{pb['fn']} | {pb['f1']} |")
        if rv.get("note"):
            lines += ["", rv["note"]]
    cand = t.get("candidate_name")
    return lines + _synthetic_groups_md(cand, (f.get(cand) or {}).get("synthetic_by_stain_and_kind") if cand else None)


def _synthetic_groups_md(name: str | None, tab: dict[str, Any] | None) -> list[str]:
    """A trial model's per stain × kind table on the 16 held-out synthetic slides (nothing without figures)."""
    if not tab:
        return []
    lines = ["", f"{name} on the 16 held-out synthetic slides:", "",
             "| stain/kind | slides | TP | FP | FN | duplicates | precision | recall | F1 |", "|---|---|---|---|---|---|---|---|---|"]
    for k, g in sorted(tab.items()):
        lines.append(f"| {k} | {g['slides']} | {g['tp']} | {g['fp']} | {g['fn']} | {g['duplicates']} | "
                     f"{g['precision']} | {g['recall']} | {g['f1']} |")
    return lines


def record_trial(trial: dict[str, Any], models_dir: Path | None = None) -> None:
    """Store (or replace, by id) a recipe trial in the detector card and re-render CARD.md."""
    base = models_dir or MODELS_DIR
    card = read_card(base / DETECTOR)
    card["trials"] = [t for t in card.get("trials", []) if t.get("id") != trial["id"]] + [trial]
    (base / DETECTOR / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    render_card_md(base / DETECTOR)


def _two_scorings_md(both: dict[str, Any] | None, edge_cut: str | None = None,
                     stitched: dict[str, Any] | None = None) -> list[str]:
    """Table of the real-tissue figures (primary and visible-part field scorings, stitched tissue), with what they rest on."""
    if not both:
        return []
    st = stitched or {}
    any_ = next(iter(both.values()))
    lines = ["", (f"**Two scorings of the same real-field predictions.** *Primary* (the figure above): glomeruli cut by the "
                  f"field edge are don't-care. *Visible part* (secondary): an edge-cut region whose visible area is at least "
                  f"the detector's minimum-size disc ({any_['visible_min_area_px']:.0f} field px, i.e. 50 µm at "
                  f"{any_['field_mpp_assumed']} µm/px) is scored at IoU ≥ 0.5 against its visible mask, because the "
                  "detector only sees that part too; smaller slivers stay don't-care. The 'train' half (but 10165.png) was used in "
                  f"training (edge-cut glomeruli in the loss: {edge_cut or 'not recorded'}), so only "
                  "'heldout' is a test; 'all' mixes both. 10165.png (train half) is scored as annotated: its "
                  "unannotated detached tuft would count as a false positive."), "",
             ("| fields | n | primary: scorable | TP/FP/FN | P | R | F1 | visible part: scorable | TP/FP/FN | P | R | F1 |"
              + (" stitched tissue: whole glomeruli | TP/FP/FN | P | R | F1 |" if st else "")),
             "|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|---|---|---|---|" if st else "")]
    for split in ("heldout", "train", "all"):
        d = both.get(split)
        if not d:
            continue
        s = st.get(split)
        lines.append(f"| {split} | {d['fields']} | {d['scorable']} | {d['tp']}/{d['fp']}/{d['fn']} | {d['precision']} | "
                     f"{d['recall']} | {d['f1']} | {d['visible_scorable']} | {d['visible_tp']}/{d['visible_fp']}/"
                     f"{d['visible_fn']} | {d['visible_precision']} | {d['visible_recall']} | {d['visible_f1']} |"
                     + (f" {s['scorable']} | {s['tp']}/{s['fp']}/{s['fn']} | {s['precision']} | {s['recall']} | {s['f1']} |"
                        if s else (" – | – | – | – | – |" if st else "")))
    h = both.get("heldout")
    if h:
        lines += ["", (f"The held-out visible-part figure rests on {h['visible_scorable']} glomeruli (one more or less moves "
                       f"recall by {1 / max(1, h['visible_scorable']):.2f}) in {h['fields']} fields of one source: still a "
                       "small sample, but less fragile than the primary figure's "
                       f"{h['scorable']}.")]
    sh, sa = st.get("heldout"), st.get("all")
    if sh and sa:
        n_groups = len(sa.get("groups", []))
        lines += ["", (f"**Stitched tissue** (the most faithful of the three): the 24 fields are tiles of a few slides, and "
                       f"neighbours were stitched back (`worker.evaluation.mosaics`: {n_groups} groups of neighbouring fields, "
                       "found by edge correlation) and each group was analysed by the whole pipeline as an uploaded "
                       "pyramidal slide would be (tissue mask, tiles, stitching, instances). Stitched, the fields hold "
                       f"{sa['scorable']} whole glomeruli where the lone fields had {both['all']['scorable'] if both.get('all') else '–'}"
                       f"; only a glomerulus cut by the stitched tissue's edge is don't-care (here {sa['dont_care']}). "
                       "Per half, glomeruli reaching into a field of the other half are don't-care too (held-out: "
                       f"{sh['dont_care']}) and predictions centred outside the half are not scored: the held-out figure "
                       f"rests on {sh['scorable']} whole "
                       f"glomeruli (one more or less moves recall by {1 / max(1, sh['scorable']):.3f}). The fields of "
                       "the 'train' half (but 10165.png) were used in training, so its figure and 'all' are no test. "
                       "It is the most "
                       "faithful figure because nothing is cut where the data were tiled and detection runs as in "
                       "production; it still rests on very few glomeruli from a few AIDPATH slides of one scanner.")]
    return lines


def render_card_md(model_dir: Path, *, extra: str = "") -> str:
    """Human model card from card.json (same facts, readable)."""
    c = read_card(model_dir)
    lines = [f"# {c['name']} v{c['version']}", "", f"**Task:** {c['task']}  ", f"**Architecture:** {c.get('architecture')}  ",
             f"**Input:** {c['input']['mpp']} µm/px, " + (f"tiles {c['input']['tile']} px, stride {c['input']['stride']} px"
                                                          if "tile" in c["input"] else f"crops {c['input']['crop']}² px")
             + f", normalisation {c['input']['normalisation']['type']} (mean {c['input']['normalisation']['mean']}, "
               f"std {c['input']['normalisation']['std']})  ",
             f"**Classes:** {', '.join(c['classes'])}  ", f"**Stains:** {', '.join(c['stains'])}  ",
             (f"**ONNX:** `model.onnx`, {c.get('size_bytes', 0) / 1e6:.2f} MB, SHA-256 `{c['sha256']}` (the worker refuses "
             "a file that does not match)  "), f"**Licence:** {c['licence']}", ""]
    if c.get("synthetic_only"):
        lines += ["## Findings that rest on synthetic data only", "",
                  "These findings were trained **and validated only on glomcheck's synthetic glomeruli**; their figures "
                  "say nothing about real tissue. Treat them as placeholders until validated on annotated real slides: "
                  + ", ".join(f"`{k}`" for k in c["synthetic_only"]) + ".", ""]
    lines += ["## Training data", ""]
    for td in c.get("training_data", []):
        lines.append(f"- {td['what']} — licence: {td['licence']}" + (f". Source: {td['source']}" if td.get("source") else ""))
    lines += ["", "## Thresholds and validation metrics", ""]
    if c["name"] == "glom_classifier":
        lines += ["| finding | validation data | n (pos) | AUC | t_lo | t_hi | indeterminate | bal. acc. (decided) | ECE | κ (literature, unverified) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for k in c["classes"]:
            m, t = c["metrics"][k], c["thresholds"][k]
            lines.append(f"| {k} | {m.get('validation')} | {m['n']} ({m['n_pos']}) | {_fmt(m.get('auc'))} | {t['t_lo']} | "
                         f"{t['t_hi']} | {_fmt(m.get('indeterminate_fraction'))} | {_fmt(m.get('balanced_accuracy_decided'))} | "
                         f"{_fmt((m.get('calibration') or {}).get('ece'))} | {m['kappa_literature']['kappa']} |")
        gs_cal = (c["metrics"].get("global_sclerosis") or {}).get("calibration_from_training_centre")
        gs_where = (f"on out-of-fold predictions of the training centre(s) {gs_cal.get('centres')} (slide-grouped "
                    "cross-validation), not on the validation centre, which only measures"
                    if gs_cal else "on a centre never used in training")
        lines += ["", ("Thresholds: `t_lo` keeps ≥ 95 % of validation positives above it (a call of *absent* is safe); "
                  "`t_hi` is the lowest cut whose *present* calls are ≥ 90 % precise. Global sclerosis thresholds (and its "
                  f"Platt calibration) were chosen {gs_where}. κ values are approximate literature figures, not measured "
                  "here; verify them before relying on the reliability gate.")]
    else:
        lines += [DETECTOR_RATIONALE, ""]
        m = c.get("metrics", {})
        hs = m.get("held_out_synthetic", {}).get("by_stain_and_kind", {})
        if hs:
            lines += [("Held-out synthetic slides (never trained on; composited ones use crops of centre SAS, training "
                      "used SESCAM), precision/recall/F1 at IoU ≥ 0.5:"), "",
                      "| stain/kind | slides | TP | FP | FN | duplicates | precision | recall | F1 |", "|---|---|---|---|---|---|---|---|---|"]
            for k, g in sorted(hs.items()):
                lines.append(f"| {k} | {g['slides']} | {g['tp']} | {g['fp']} | {g['fn']} | {g['duplicates']} | "
                             f"{g['precision']} | {g['recall']} | {g['f1']} |")
        rf = m.get("real_fields_aidpath_pas")
        if rf:
            split = rf.get("split", "all")
            which = ("the fixed held-out half (sorted names, last half: " + ", ".join(rf.get("field_names", [])) +
                     "; never trained on)") if split == "heldout" else f"split '{split}'"
            n_glom = rf["tp"] + rf["fn"]
            lines += ["", (f"**Real tissue** ({rf['fields']} AIDPATH PAS fields, {which}; assumed {rf['field_mpp_assumed']} "
                      f"µm/px; {rf['dont_care']} glomeruli cut by the field edge are don't-care): {_prf(rf)}. "
                      f"**This rests on only {n_glom} scorable glomeruli in {rf['fields']} fields**: one glomerulus more or "
                      f"less changes recall by {1 / max(1, n_glom):.2f}, so read it as a sanity check, not an accuracy "
                      "estimate.")]
            lines += _two_scorings_md(m.get("real_fields_two_scorings"),
                                      ((c.get("training") or {}).get("real_fields") or {}).get("edge_cut"),
                                      m.get("real_tissue_stitched"))
            rv = m.get("real_fields_reverse_fold")
            if rv:
                n_rv = rv["tp"] + rv["fn"]
                lines += ["", (f"**Reverse fold** (a separate model, not shipped: same recipe and seed, trained on the "
                          f"held-out half {', '.join(rv.get('trained_on', []))} instead, scored on the other "
                          f"{rv['fields']} fields): {_prf(rv)} ({n_rv} scorable glomeruli, "
                          f"{rv['dont_care']} edge-cut don't-care). Both folds pooled: {_prf(rv['pooled'])} — **{rv['pooled']['tp'] + rv['pooled']['fn']} "
                          "scorable glomeruli in 24 fields**, still far too few for an accuracy estimate."
                          + (" The reverse fold's test half includes 10165.png, whose detached tuft is not annotated "
                             "(data README), so one of its false positives may be a true glomerulus."
                             if "10165.png" in rv.get("field_names", []) else ""))]
                if rv.get("stitched") and rv.get("pooled_stitched"):
                    rs, ps = rv["stitched"], rv["pooled_stitched"]
                    lines += ["", (f"Stitched tissue, reverse fold (the train half's groups, {rs['scorable']} whole "
                                   f"glomeruli): {_prf(rs)}. Pooled with the shipped model's held-out stitched figure: "
                                   f"{_prf(ps)} on {ps['scorable']} whole glomeruli, each scored by a model that never "
                                   "saw its fields (two models of one recipe, not one model).")]
            if (c.get("training") or {}).get("real_fields"):
                lines += ["", ("The train half of the same 24 fields was used in training. Both halves, and the SAS crops "
                          "composited into the held-out synthetic slides, appear to come from the same AIDPATH slides and "
                          "scanner, so neither figure says how the detector does at another hospital.")]
            else:
                lines += ["", "These fields come from the same AIDPATH slides as the SAS crops; the detector never saw SAS crops."]
        cmp_ = c.get("comparison")
        if cmp_:
            wide = any("stitched" in row for row in cmp_.get("rows", []))
            lines += ["", "### Compared with the previous version", "",
                      ("| model | held-out real fields TP/FP/FN | P | R | F1 |"
                       + (" held-out visible part F1 | held-out stitched tissue TP/FP/FN | F1 |" if wide else "")
                       + " held-out synthetic F1 (all) |"),
                      "|---|---|---|---|---|---|" + ("---|---|---|" if wide else "")]
            for row in cmp_.get("rows", []):
                st = row.get("stitched")
                extra = ((f" {row.get('visible_f1', '–')} | " + (f"{st['tp']}/{st['fp']}/{st['fn']} | {st['f1']} |" if st
                                                                 else "– | – |")) if wide else "")
                lines.append(f"| {row['model']} | {row['tp']}/{row['fp']}/{row['fn']} | {row['precision']} | {row['recall']} | "
                             f"{row['f1']} |{extra} {row.get('synthetic_f1', '–')} |")
            for label, tab in (cmp_.get("synthetic_tables") or {}).items():
                lines += ["", f"{label}:", "", "| stain/kind | slides | TP | FP | FN | duplicates | precision | recall | F1 |",
                          "|---|---|---|---|---|---|---|---|---|"]
                for k, g in sorted(tab.items()):
                    lines.append(f"| {k} | {g['slides']} | {g['tp']} | {g['fp']} | {g['fn']} | {g['duplicates']} | "
                                 f"{g['precision']} | {g['recall']} | {g['f1']} |")
            if cmp_.get("note"):
                lines += ["", cmp_["note"]]
        rf_train = (c.get("training") or {}).get("real_fields")
        if rf_train:
            from models.training.detector import EDGE_CUT_TEXT  # torch only where a card is rendered
            n_train = len(c["training"].get("train_slides", []))
            n_val = (m.get("held_out_synthetic", {}).get("by_stain_and_kind", {}).get("all") or {}).get("slides", "the")
            lines += ["", "## Reproduce", "", (f"`models/training/rebuild_detector.sh [WORKDIR]` regenerates the {n_train} "
                      f"training slides and the {n_val} held-out slides from their seeds, retrains (and trains the "
                      "reverse-fold model) and re-measures; the main steps are:"), "",
                      "```",
                      "glomcheck synth WORKDIR/train/d_pas_101.tiff --seed 101 --stain pas --sections 2   # … seeds 101–122, see the script",
                      (f"glomcheck train detector WORKDIR/train --steps {c['training'].get('steps')} --per-slide "
                       f"{c['training'].get('per_slide')} --seed {c['training'].get('seed')} "
                       f"--threads {c['training'].get('threads', 2)} \\"),
                      (f"  --fields {DATA_FIELDS} --per-field {rf_train.get('per_field_per_scale')} --real-batch "
                       f"{rf_train.get('real_batch')} --exclude-field 10165.png"
                       + next((f" --edge-cut {k}" for k, v in EDGE_CUT_TEXT.items()
                               if k != "dont_care" and v == rf_train.get("edge_cut")), "")),
                      f"glomcheck train card --val-slides WORKDIR/val --fields {DATA_FIELDS} --fields-split heldout",
                      f"glomcheck evaluate --fields {DATA_FIELDS} --split heldout",
                      "```", "",
                      ("10165.png (train half) is left out of training because a detached tuft in it is not annotated "
                       "(data README). Training is bit-for-bit deterministic only on the same torch build and thread count."
                       + (f" Recipe defaults of `train_detector` also used: {c['training']['vessel_frac']:.0%} of the synthetic "
                          "patches centred on an arteriole listed in the truth GeoJSON (hard negatives), per-slide patch "
                          f"multipliers {c['training'].get('slide_weights')}." if c["training"].get("vessel_frac") else ""))]
    if c.get("trials"):
        lines += ["", "## Recipe trials (pre-registered)"]
        for t in c["trials"]:
            lines += _trial_md(t)
    lines += ["", extra, ""]
    text = "\n".join(lines)
    (model_dir / "CARD.md").write_text(text)
    return text


def reverse_fold_metrics(fields: Path, reverse_models_dir: Path, *, models_dir: Path | None = None,
                         log: Any = print) -> dict[str, Any]:
    """Score the reverse-fold detector (trained on the 'heldout' half) on the 'train' half; store it, pooled with the
    shipped detector's held-out figure, in the shipped card as metrics.real_fields_reverse_fold; re-render CARD.md."""
    base = models_dir or MODELS_DIR
    rev = load_model(DETECTOR, models_dir=reverse_models_dir)
    rcard = read_card(reverse_models_dir / DETECTOR)
    trained = (rcard.get("training") or {}).get("real_fields") or {}
    if trained.get("split") != "heldout":
        raise ValueError("the reverse-fold model must be trained on the 'heldout' half")
    fr = evaluate_fields(fields, rev, split="train")
    card = read_card(base / DETECTOR)
    fwd = card["metrics"]["real_fields_aidpath_pas"]
    out: dict[str, Any] = {k: fr[k] for k in ("fields", "tp", "fp", "fn", "dont_care", "precision", "recall", "f1",
                                              "field_mpp_assumed", "split")}
    out["field_names"] = [r["field"] for r in fr["per_field"]]
    out["trained_on"] = trained.get("fields", [])
    out["model_sha256"] = rcard.get("sha256")
    tp, fp, fn = fwd["tp"] + fr["tp"], fwd["fp"] + fr["fp"], fwd["fn"] + fr["fn"]
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    out["pooled"] = {"tp": tp, "fp": fp, "fn": fn, "precision": round(p, 4), "recall": round(r, 4),
                     "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0}
    fwd_st = card["metrics"].get("real_tissue_stitched", {}).get("heldout")
    if fwd_st:  # the same on stitched tissue: every whole glomerulus scored by a model that never saw its fields
        from worker.evaluation.mosaics import evaluate_mosaics

        mo = evaluate_mosaics(fields, split="train", models_dir=reverse_models_dir)
        out["stitched"] = {k: mo[k] for k in STITCHED_KEYS}
        tp, fp, fn = fwd_st["tp"] + mo["tp"], fwd_st["fp"] + mo["fp"], fwd_st["fn"] + mo["fn"]
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        out["pooled_stitched"] = {"tp": tp, "fp": fp, "fn": fn, "scorable": fwd_st["scorable"] + mo["scorable"],
                                  "precision": round(p, 4), "recall": round(r, 4),
                                  "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0}
    card["metrics"]["real_fields_reverse_fold"] = out
    (base / DETECTOR / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    render_card_md(base / DETECTOR)
    log(json.dumps({"reverse_fold": {k: out[k] for k in ("tp", "fp", "fn", "precision", "recall", "f1")},
                    "pooled": out["pooled"]}))
    return out


if __name__ == "__main__":  # python -m models.training.report reverse-fold FIELDS REVERSE_MODELS_DIR | fields FIELDS
    import sys

    if len(sys.argv) == 4 and sys.argv[1] == "reverse-fold":
        reverse_fold_metrics(Path(sys.argv[2]), Path(sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "fields":
        update_fields_two_scorings(Path(sys.argv[2]))
    else:
        raise SystemExit("usage: python -m models.training.report reverse-fold FIELDS REVERSE_MODELS_DIR\n"
                         "       python -m models.training.report fields FIELDS")
