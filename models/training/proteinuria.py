"""`glomcheck train proteinuria CSV`: fit the 12-month proteinuria outlook and export ONNX + card.

Model: log-linear regression, ln(P12 + 0.05) = Xβ, with a locally adaptive split-conformal 80 %
interval (a second linear model predicts the residual scale, so scarred kidneys, whose course is less
predictable, get wider intervals). The data are split once, seeded: 60 % fit, 20 % conformal
calibration, 20 % held out; every metric in the card is measured on the held-out part by running the
exported ONNX file, not the numpy fit. The whole predictor is a handful of ONNX ops built with
``onnx.helper`` (no torch), so it is small, exact and auditable.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import numpy as np

from models.training import cohort as cohort_mod

MODEL_NAME = "proteinuria-outlook"
ONNX_FILE = "proteinuria-outlook.onnx"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "proteinuria"
OFFSET = 0.05  # g/day added before the log so 0 g/day is representable
TARGET = "urinary_protein_12m_g_day"

# (name, unit, description) in the column order of the ONNX input tensor "features".
INPUTS: list[tuple[str, str, str]] = [
    ("age_years", "years", "age at biopsy"),
    ("female", "0/1", "1 if female"),
    ("egfr", "mL/min/1.73 m²", "eGFR at biopsy, Japanese equation"),
    ("systolic_bp_mmhg", "mmHg", "systolic blood pressure at biopsy"),
    ("urinary_protein_g_day", "g/day", "urinary protein at biopsy (g/gCr taken as ≈ g/day); log-transformed in the graph"),
    ("pct_global_sclerosis", "%", "globally sclerosed / assessable glomeruli × 100"),
    ("pct_crescent", "%", "glomeruli with any crescent / assessable glomeruli × 100"),
    ("oxford_m", "0/1", "Oxford M1"),
    ("oxford_e", "0/1", "Oxford E1"),
    ("oxford_s", "0/1", "Oxford S1"),
]
LOG_INPUT = "urinary_protein_g_day"
SYNTHETIC_CAVEAT = (
    "SYNTHETIC MODEL: fitted on a computer-generated cohort (models/training/cohort.py), not on patients. "
    "Its numbers demonstrate the pipeline only and must not inform the care of any patient."
)


@dataclass
class Fit:
    beta: np.ndarray  # (k,) log-mean weights on transformed features
    b0: float
    gamma: np.ndarray  # (k,) log-scale weights
    g0: float
    q_lo: float
    q_hi: float


def load_rows(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read a cohort CSV into (X raw features, y target g/day, patient ids); eGFR is derived when absent."""
    from app.clinical.fields import egfr_japanese

    xs: list[list[float]] = []
    ys: list[float] = []
    ids: list[str] = []
    with path.open(newline="") as fh:
        for i, r in enumerate(csv.DictReader(fh), start=2):
            try:
                egfr = float(r["egfr"]) if r.get("egfr") else egfr_japanese(
                    float(r["creatinine_mg_dl"]), float(r["age_years"]), r["sex"])
                if egfr is None:
                    raise ValueError("eGFR not computable")
                xs.append([
                    float(r["age_years"]), 1.0 if r["sex"] == "female" else 0.0, egfr, float(r["systolic_bp_mmhg"]),
                    float(r["urinary_protein"]), float(r["pct_global_sclerosis"]), float(r["pct_crescent"]),
                    float(r["oxford_m"]), float(r["oxford_e"]), float(r["oxford_s"]),
                ])
                ys.append(float(r[TARGET]))
                ids.append(r.get("patient") or f"row{i}")
            except (KeyError, ValueError, TypeError) as exc:
                raise click.ClickException(f"{path}:{i}: {exc!r}; see models/training/cohort.py for the columns") from exc
    if len(ys) < 50:
        raise click.ClickException(f"{path}: only {len(ys)} rows; at least 50 are needed")
    return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64), ids


def transform(x: np.ndarray) -> np.ndarray:
    t = x.copy()
    j = [n for n, _, _ in INPUTS].index(LOG_INPUT)
    t[:, j] = np.log(t[:, j] + OFFSET)
    return t


def _lstsq(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    a = np.hstack([t, np.ones((len(t), 1))])
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    return coef[:-1], float(coef[-1])


def fit(x_fit: np.ndarray, y_fit: np.ndarray, x_cal: np.ndarray, y_cal: np.ndarray, level: float) -> Fit:
    """Mean model + scale model on the fit split, conformal quantiles on the calibration split."""
    t = transform(x_fit)
    ly = np.log(y_fit + OFFSET)
    beta, b0 = _lstsq(t, ly)
    resid = ly - (t @ beta + b0)
    # E|r| = σ·sqrt(2/π) for normal r; fitting log|r| gives the scale up to a constant the conformal step absorbs.
    gamma, g0 = _lstsq(t, np.log(np.abs(resid) + 1e-3))
    tc = transform(x_cal)
    score = (np.log(y_cal + OFFSET) - (tc @ beta + b0)) / np.exp(tc @ gamma + g0)
    n = len(score)
    alpha = 1 - level
    # Finite-sample split-conformal quantiles (equal tails).
    lo_rank = max(math.floor((n + 1) * alpha / 2) - 1, 0)
    hi_rank = min(math.ceil((n + 1) * (1 - alpha / 2)) - 1, n - 1)
    s = np.sort(score)
    return Fit(beta, b0, gamma, g0, float(s[lo_rank]), float(s[hi_rank]))


def predict_numpy(f: Fit, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = transform(x)
    mu = t @ f.beta + f.b0
    sc = np.exp(t @ f.gamma + f.g0)

    def back(z: np.ndarray) -> np.ndarray:
        return np.asarray(np.maximum(np.exp(z) - OFFSET, 0.0))

    return back(mu), back(mu + f.q_lo * sc), back(mu + f.q_hi * sc)


def build_onnx(f: Fit, *, version: str) -> bytes:
    """features [N, 10] float32 → prediction, low, high [N, 1] float32 (g/day)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    k = len(INPUTS)
    j = [n for n, _, _ in INPUTS].index(LOG_INPUT)
    mask = np.zeros(k, dtype=bool)
    mask[j] = True
    def c(name: str, arr: Any) -> Any:
        return numpy_helper.from_array(np.asarray(arr), name)

    inits = [
        c("mask", mask),
        c("offset", np.array(OFFSET, dtype=np.float32)),
        c("zero", np.array(0.0, dtype=np.float32)),
        c("W_mu", f.beta.astype(np.float32).reshape(k, 1)),
        c("b_mu", np.array([f.b0], dtype=np.float32)),
        c("W_s", f.gamma.astype(np.float32).reshape(k, 1)),
        c("b_s", np.array([f.g0], dtype=np.float32)),
        c("q_lo", np.array(f.q_lo, dtype=np.float32)),
        c("q_hi", np.array(f.q_hi, dtype=np.float32)),
    ]
    nodes = [
        helper.make_node("Add", ["features", "offset"], ["x_off"]),
        helper.make_node("Log", ["x_off"], ["x_log"]),
        helper.make_node("Where", ["mask", "x_log", "features"], ["t"]),
        helper.make_node("MatMul", ["t", "W_mu"], ["mu0"]),
        helper.make_node("Add", ["mu0", "b_mu"], ["mu"]),
        helper.make_node("MatMul", ["t", "W_s"], ["ls0"]),
        helper.make_node("Add", ["ls0", "b_s"], ["ls"]),
        helper.make_node("Exp", ["ls"], ["scale"]),
        helper.make_node("Mul", ["scale", "q_lo"], ["d_lo"]),
        helper.make_node("Mul", ["scale", "q_hi"], ["d_hi"]),
        helper.make_node("Add", ["mu", "d_lo"], ["z_lo"]),
        helper.make_node("Add", ["mu", "d_hi"], ["z_hi"]),
    ]
    for z, out in (("mu", "prediction"), ("z_lo", "low"), ("z_hi", "high")):
        nodes += [
            helper.make_node("Exp", [z], [f"{out}_e"]),
            helper.make_node("Sub", [f"{out}_e", "offset"], [f"{out}_s"]),
            helper.make_node("Max", [f"{out}_s", "zero"], [out]),
        ]
    graph = helper.make_graph(
        nodes, MODEL_NAME,
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", k])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["N", 1]) for o in ("prediction", "low", "high")],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="glomcheck",
                              producer_version=version, doc_string=SYNTHETIC_CAVEAT)
    model.ir_version = 8  # readable by onnxruntime ≥ 1.14
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def run_onnx(model_bytes: bytes, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    p, lo, hi = sess.run(["prediction", "low", "high"], {"features": x.astype(np.float32)})
    return p[:, 0].astype(np.float64), lo[:, 0].astype(np.float64), hi[:, 0].astype(np.float64)


def metrics(y: np.ndarray, x: np.ndarray, p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> dict[str, Any]:
    """Held-out figures: errors in g/day, empirical coverage overall and by %GS tertile."""
    inside = (y >= lo) & (y <= hi)
    gs = x[:, [n for n, _, _ in INPUTS].index("pct_global_sclerosis")]
    cuts = np.quantile(gs, [1 / 3, 2 / 3])
    groups = {"gs_low": gs <= cuts[0], "gs_mid": (gs > cuts[0]) & (gs <= cuts[1]), "gs_high": gs > cuts[1]}
    p0 = x[:, [n for n, _, _ in INPUTS].index(LOG_INPUT)]
    ly, lp = np.log(y + OFFSET), np.log(p + OFFSET)
    r2 = 1 - float(np.sum((ly - lp) ** 2) / np.sum((ly - ly.mean()) ** 2))
    return {
        "n": int(len(y)),
        "mae_g_day": round(float(np.mean(np.abs(p - y))), 4),
        "median_ae_g_day": round(float(np.median(np.abs(p - y))), 4),
        "mae_g_day_baseline_carried_forward": round(float(np.mean(np.abs(p0 - y))), 4),
        "r2_log_scale": round(r2, 4),
        "interval_coverage": round(float(inside.mean()), 4),
        "interval_coverage_by_gs_tertile": {k: round(float(inside[m].mean()), 4) for k, m in groups.items()},
        "median_interval_width_g_day": round(float(np.median(hi - lo)), 4),
    }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def train_and_export(csv_path: Path, out_dir: Path, *, seed: int = 7, level: float = 0.8, version: str = "1.0.0",
                     synthetic: bool = True, cohort_description: str | None = None) -> dict[str, Any]:
    """Fit, export, measure on the held-out split with onnxruntime, and write the card; returns the card."""
    x, y, ids = load_rows(csv_path)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    n_fit, n_cal = int(0.6 * len(y)), int(0.2 * len(y))
    i_fit, i_cal, i_test = order[:n_fit], order[n_fit:n_fit + n_cal], order[n_fit + n_cal:]
    f = fit(x[i_fit], y[i_fit], x[i_cal], y[i_cal], level)
    model_bytes = build_onnx(f, version=version)
    p, lo, hi = run_onnx(model_bytes, x[i_test])
    np_p, np_lo, np_hi = predict_numpy(f, x[i_test])
    onnx_diff = float(max(np.max(np.abs(p - np_p)), np.max(np.abs(lo - np_lo)), np.max(np.abs(hi - np_hi))))

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ONNX_FILE).write_bytes(model_bytes)
    names = [n for n, _, _ in INPUTS]
    card: dict[str, Any] = {
        "name": MODEL_NAME,
        "version": version + ("+synthetic" if synthetic else ""),
        "synthetic_cohort": synthetic,
        "caveat": SYNTHETIC_CAVEAT if synthetic else (
            "Research model: predictions are estimates for a population like the training cohort; "
            "they do not replace clinical judgement."),
        "task": "urinary protein 12 months after biopsy (g/day) with a prediction interval",
        "file": ONNX_FILE,
        "sha256": _sha256(model_bytes),
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "inputs": [
            {"name": n, "unit": u, "description": d, "column": i,
             "training_min": round(float(x[:, i].min()), 3), "training_max": round(float(x[:, i].max()), 3)}
            for i, (n, u, d) in enumerate(INPUTS)
        ],
        "onnx": {"input": "features", "input_shape": ["N", len(INPUTS)], "dtype": "float32",
                 "outputs": {"prediction": "g/day", "low": "g/day", "high": "g/day"}, "opset": 17},
        "method": {
            "mean": "ordinary least squares on ln(P12 + 0.05); urinary protein at biopsy enters as ln(P0 + 0.05)",
            "interval": f"locally adaptive split-conformal, {level:.0%} equal-tailed, scale model on ln|residual|",
            "coefficients": {n: round(float(b), 6) for n, b in zip(names, f.beta)} | {"intercept": round(f.b0, 6)},
            "scale_coefficients": {n: round(float(g), 6) for n, g in zip(names, f.gamma)} | {"intercept": round(f.g0, 6)},
            "conformal_quantiles": {"low": round(f.q_lo, 6), "high": round(f.q_hi, 6)},
            "offset_g_day": OFFSET,
        },
        "interval_level": level,
        "horizon_months": 12,
        "cohort": {
            "synthetic": synthetic,
            "description": cohort_description or (
                "Synthetic cohort from models/training/cohort.py (seeded); invented but directionally plausible "
                "relationships between baseline proteinuria, eGFR, BP, %global sclerosis, crescents, MEST and "
                "12-month proteinuria. No real patient data." if synthetic else "not described"),
            "generator": "models/training/cohort.py" if synthetic else None,
            "generator_version": cohort_mod.COHORT_VERSION if synthetic else None,
            "csv_sha256": _sha256(csv_path.read_bytes()),
            "n_patients": len(y),
            "split": {"seed": seed, "fit": len(i_fit), "calibration": len(i_cal), "held_out": len(i_test)},
        },
        "metrics_held_out": metrics(y[i_test], x[i_test], p, lo, hi),
        "metrics_measured_with": "onnxruntime on the held-out split",
        "onnx_vs_numpy_max_abs_diff_g_day": onnx_diff,
    }
    (out_dir / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    (out_dir / "CARD.md").write_text(render_card_md(card))
    return card


def render_card_md(card: dict[str, Any]) -> str:
    m = card["metrics_held_out"]
    banner = ("> **SYNTHETIC COHORT — NOT FOR CLINICAL USE.** " + card["caveat"] + "\n\n") if card["synthetic_cohort"] else ""
    rows = "\n".join(f"| `{i['name']}` | {i['unit']} | {i['description']} | {i['training_min']:g}–{i['training_max']:g} |"
                     for i in card["inputs"])
    cov = ", ".join(f"{k} {v:.1%}" for k, v in m["interval_coverage_by_gs_tertile"].items())
    return f"""# {card['name']} {card['version']}

{banner}Predicts urinary protein 12 months after renal biopsy (g/day) with a {card['interval_level']:.0%} prediction
interval, from clinical data at biopsy and the case-level glomerular assessment (DOMAIN.md §6).

- File: `{card['file']}` (sha256 `{card['sha256']}`), ONNX opset 17, input `features` float32 [N, {len(card['inputs'])}],
  outputs `prediction`, `low`, `high` (g/day).
- Method: {card['method']['mean']}; interval: {card['method']['interval']}.
- Cohort: {card['cohort']['description']} n = {card['cohort']['n_patients']}, split seed {card['cohort']['split']['seed']}
  (fit {card['cohort']['split']['fit']} / calibration {card['cohort']['split']['calibration']} / held out {card['cohort']['split']['held_out']}).

## Inputs (column order)

| name | unit | meaning | training range |
|---|---|---|---|
{rows}

## Held-out metrics (measured with onnxruntime on {m['n']} held-out synthetic patients)

| metric | value |
|---|---|
| MAE | {m['mae_g_day']} g/day |
| median absolute error | {m['median_ae_g_day']} g/day |
| MAE if baseline proteinuria is carried forward | {m['mae_g_day_baseline_carried_forward']} g/day |
| R² (log scale) | {m['r2_log_scale']} |
| {card['interval_level']:.0%} interval coverage | {m['interval_coverage']:.1%} ({cov}) |
| median interval width | {m['median_interval_width_g_day']} g/day |

These figures describe fit to data drawn from the same invented generator; they say nothing about
accuracy on real patients.

## Limits

- Treatment (RAS blockade, steroids, immunosuppression) is not an input; on real data it dominates.
- g/gCr is taken as equal to g/day.
- Oxford T is not used (it is not a glomerular finding); inputs outside the training range are
  flagged by the server as extrapolation.
- Missing inputs are never imputed: the API answers "cannot predict" and lists them.

Regenerate: `python -m models.training.cohort cohort.csv && glomcheck train proteinuria cohort.csv`.
"""


@click.command("proteinuria")
@click.argument("csv_path", metavar="CSV", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUT,
              show_default=True, help="Folder for the ONNX file, card.json and CARD.md.")
@click.option("--seed", default=7, show_default=True, help="Seed of the fit/calibration/held-out split.")
@click.option("--level", default=0.8, show_default=True, help="Prediction interval level.")
@click.option("--version", "version", default="1.0.0", show_default=True)
@click.option("--real-cohort", is_flag=True, help="The CSV holds real patients (default: synthetic cohort).")
@click.option("--cohort-description", default=None, help="What the cohort is; required with --real-cohort.")
def proteinuria(csv_path: Path, out_dir: Path, seed: int, level: float, version: str, real_cohort: bool,
                cohort_description: str | None) -> None:
    """Fit the 12-month proteinuria outlook on CSV and export ONNX + card (metrics measured on a held-out split)."""
    if real_cohort and not cohort_description:
        raise click.UsageError("--real-cohort needs --cohort-description (who, where, when, inclusion criteria)")
    if not 0.5 <= level < 1:
        raise click.UsageError("--level must be in [0.5, 1)")
    card = train_and_export(csv_path, out_dir, seed=seed, level=level, version=version, synthetic=not real_cohort,
                            cohort_description=cohort_description)
    m = card["metrics_held_out"]
    click.echo(json.dumps({"out": str(out_dir), "version": card["version"], "sha256": card["sha256"],
                           "synthetic_cohort": card["synthetic_cohort"], "metrics_held_out": m}, indent=2))
