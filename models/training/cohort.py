"""SYNTHETIC renal-biopsy cohort for the proteinuria-outlook model. No patient contributed to it.

Why synthetic: the network has no consented, curated outcome data yet, and the outlook pipeline
(training, ONNX export, card, serving, API) must be built and tested end to end before real data
arrive. The relationships below are plausible in direction and rough size, loosely inspired by IgA
nephropathy cohorts (higher baseline proteinuria, %global sclerosis, crescents, segmental
sclerosis, blood pressure and lower eGFR go with more proteinuria a year later), but the numbers are
invented. A model fitted on this cohort says nothing about real patients.

Generative story per patient (all draws from one seeded ``numpy.random.Generator``):

* age ~ N(45, 15) years, clipped to 18–85; female with p = 0.5.
* %global sclerosis (GS) = 100 × Beta(1.2, 7) shifted up by 0.25 %/year over 40, clipped 0–100.
* crescents: with p = 0.3 the biopsy has crescents, then %crescent = 100 × Beta(1.5, 8); else 0.
* Oxford M1 p = 0.4; E1 p = 0.2 (+0.25 with crescents); S1 p = 0.45 (+0.2 if GS > 20 %).
* eGFR = 105 − 0.6 × (age − 40) − 0.9 × GS − 0.3 × %crescent − 8 × S1 + N(0, 12), clipped 5–150
  mL/min/1.73 m²; serum creatinine is back-calculated with the Japanese equation.
* systolic BP = 118 + 0.35 × (age − 40) + 0.25 × (90 − eGFR) + N(0, 12), clipped 85–220 mmHg;
  diastolic = 0.55 × systolic + 8 + N(0, 7), kept below systolic.
* baseline proteinuria (g/day): ln P0 = −0.3 + 0.45 M1 + 0.35 E1 + 0.3 S1 + 0.012 %crescent
  + 0.004 GS + N(0, 0.7), clipped 0.05–20. 30 % of patients report it as g/gCr (taken as ≈ g/day).
* 12-month proteinuria (g/day): ln(P12 + 0.05) = −0.55 + 0.72 ln(P0 + 0.05) + 0.012 GS
  + 0.006 %crescent + 0.18 S1 − 0.12 E1 (treated acute lesions respond) + 0.10 M1
  + 0.007 (SBP − 130) − 0.004 (eGFR − 60) + N(0, σ) with σ = 0.40 + 0.006 GS
  (more scarring, less predictable), clipped 0.01–25.
"""

from __future__ import annotations

import csv
from pathlib import Path

import click
import numpy as np

COHORT_VERSION = "1"
DEFAULT_SEED = 20261125
DEFAULT_N = 3000
COLUMNS = [
    "patient", "age_years", "sex", "egfr", "creatinine_mg_dl", "systolic_bp_mmhg", "diastolic_bp_mmhg",
    "urinary_protein", "urinary_protein_unit", "pct_global_sclerosis", "pct_crescent", "oxford_m", "oxford_e",
    "oxford_s", "urinary_protein_12m_g_day",
]


def generate(n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> list[dict[str, object]]:
    """Draw ``n`` synthetic patients (see the module docstring for every relationship)."""
    rng = np.random.default_rng(seed)
    age = np.clip(rng.normal(45, 15, n), 18, 85).round()
    female = rng.random(n) < 0.5
    gs = np.clip(100 * rng.beta(1.2, 7, n) + 0.25 * np.maximum(age - 40, 0), 0, 100)
    has_cres = rng.random(n) < 0.3
    cres = np.where(has_cres, 100 * rng.beta(1.5, 8, n), 0.0)
    m1 = rng.random(n) < 0.4
    e1 = rng.random(n) < 0.2 + 0.25 * has_cres
    s1 = rng.random(n) < 0.45 + 0.2 * (gs > 20)
    egfr = np.clip(105 - 0.6 * (age - 40) - 0.9 * gs - 0.3 * cres - 8 * s1 + rng.normal(0, 12, n), 5, 150)
    # Invert eGFR = 194 Cr^-1.094 age^-0.287 (×0.739 female) for creatinine (mg/dL).
    k = 194 * age ** -0.287 * np.where(female, 0.739, 1.0)
    cr = np.clip((egfr / k) ** (-1 / 1.094), 0.2, 25)
    sbp = np.clip(118 + 0.35 * (age - 40) + 0.25 * (90 - egfr) + rng.normal(0, 12, n), 85, 220).round()
    dbp = np.minimum(np.clip(0.55 * sbp + 8 + rng.normal(0, 7, n), 40, 140), sbp - 10).round()
    lp0 = -0.3 + 0.45 * m1 + 0.35 * e1 + 0.3 * s1 + 0.012 * cres + 0.004 * gs + rng.normal(0, 0.7, n)
    p0 = np.clip(np.exp(lp0), 0.05, 20)
    sigma = 0.40 + 0.006 * gs
    lp12 = (-0.55 + 0.72 * np.log(p0 + 0.05) + 0.012 * gs + 0.006 * cres + 0.18 * s1 - 0.12 * e1 + 0.10 * m1
            + 0.007 * (sbp - 130) - 0.004 * (egfr - 60) + rng.normal(0, 1, n) * sigma)
    p12 = np.clip(np.exp(lp12) - 0.05, 0.01, 25)
    unit_gcr = rng.random(n) < 0.3
    rows: list[dict[str, object]] = []
    for i in range(n):
        rows.append({
            "patient": f"SYN-{i + 1:05d}",
            "age_years": int(age[i]),
            "sex": "female" if female[i] else "male",
            "egfr": round(float(egfr[i]), 1),
            "creatinine_mg_dl": round(float(cr[i]), 2),
            "systolic_bp_mmhg": int(sbp[i]),
            "diastolic_bp_mmhg": int(dbp[i]),
            "urinary_protein": round(float(p0[i]), 2),
            "urinary_protein_unit": "g/gCr" if unit_gcr[i] else "g/day",
            "pct_global_sclerosis": round(float(gs[i]), 1),
            "pct_crescent": round(float(cres[i]), 1),
            "oxford_m": int(m1[i]),
            "oxford_e": int(e1[i]),
            "oxford_s": int(s1[i]),
            "urinary_protein_12m_g_day": round(float(p12[i]), 3),
        })
    return rows


def write_csv(rows: list[dict[str, object]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)


@click.command("cohort")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--n", "n", default=DEFAULT_N, show_default=True, help="Number of synthetic patients.")
@click.option("--seed", default=DEFAULT_SEED, show_default=True)
def cohort(out: Path, n: int, seed: int) -> None:
    """Write the SYNTHETIC proteinuria cohort to OUT (CSV). It contains no real patient."""
    write_csv(generate(n, seed), out)
    click.echo(f"wrote {n} synthetic patients (seed {seed}, cohort v{COHORT_VERSION}) to {out}")


if __name__ == "__main__":
    cohort()
