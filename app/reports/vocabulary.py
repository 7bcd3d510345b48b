"""Controlled lists for the three diagnosis axes of the Japan Renal Biopsy Registry (J-RBR).

Codes are stable identifiers stored in reports; labels are for display only and may be reworded.
A field that is ``None`` means "not assessed" — it is never one of these codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

VOCABULARY_VERSION = "jrbr-2024.1"


class Axis(StrEnum):
    clinical_diagnosis = "clinical_diagnosis"
    pathogenesis = "pathogenesis"
    histopathology = "histopathology"


@dataclass(frozen=True)
class Term:
    code: str
    en: str
    ja: str


def _terms(*rows: tuple[str, str, str]) -> Mapping[str, Term]:
    return {code: Term(code, en, ja) for code, en, ja in rows}


CLINICAL_DIAGNOSIS = _terms(
    ("chronic_nephritic", "chronic nephritic syndrome", "慢性腎炎症候群"),
    ("nephrotic", "nephrotic syndrome", "ネフローゼ症候群"),
    ("acute_nephritic", "acute nephritic syndrome", "急性腎炎症候群"),
    ("rapidly_progressive", "rapidly progressive nephritic syndrome", "急速進行性腎炎症候群"),
    ("hematuria", "recurrent or persistent hematuria", "反復性・持続性血尿"),
    ("collagen_vasculitis", "renal disorder with collagen disease or vasculitis", "膠原病・血管炎に伴う腎障害"),
    ("hypertensive", "hypertensive nephropathy", "高血圧性腎障害"),
    ("tma", "thrombotic microangiopathy", "血栓性微小血管症"),
    ("diabetic", "diabetic nephropathy", "糖尿病性腎症"),
    ("inherited", "inherited renal disease", "遺伝性腎疾患"),
    ("aki", "acute kidney injury", "急性腎障害"),
    ("drug_induced", "drug-induced nephropathy", "薬剤性腎障害"),
    ("transplant", "renal transplantation", "移植腎"),
    ("other", "other", "その他"),
)

PATHOGENESIS = _terms(
    ("primary_gn", "primary glomerular disease (except IgA nephropathy)", "原発性糸球体疾患（IgA腎症を除く）"),
    ("iga_nephropathy", "IgA nephropathy", "IgA腎症"),
    ("iga_vasculitis", "IgA vasculitis (purpura nephritis)", "紫斑病性腎炎"),
    ("lupus_nephritis", "lupus nephritis", "ループス腎炎"),
    ("mpo_anca", "MPO-ANCA positive nephritis", "MPO-ANCA陽性腎炎"),
    ("pr3_anca", "PR3-ANCA positive nephritis", "PR3-ANCA陽性腎炎"),
    ("anti_gbm", "anti-GBM antibody nephritis", "抗GBM抗体型腎炎"),
    ("hypertensive_nephrosclerosis", "hypertensive nephrosclerosis", "高血圧性腎硬化症"),
    ("tma", "thrombotic microangiopathy", "血栓性微小血管症"),
    ("diabetic_nephropathy", "diabetic nephropathy", "糖尿病性腎症"),
    ("amyloidosis", "amyloid nephropathy", "アミロイド腎症"),
    ("alport", "Alport syndrome", "アルポート症候群"),
    ("thin_bm", "thin basement membrane disease", "菲薄基底膜病"),
    ("infection_related", "infection-related nephropathy", "感染症関連腎症"),
    ("transplant", "transplanted kidney", "移植腎"),
    ("other", "other", "その他"),
)

HISTOPATHOLOGY = _terms(
    ("minor_abnormalities", "minor glomerular abnormalities", "微小糸球体変化"),
    ("fsgs", "focal segmental glomerulosclerosis", "巣状分節性糸球体硬化症"),
    ("membranous", "membranous nephropathy", "膜性腎症"),
    ("mesangial_proliferative", "mesangial proliferative glomerulonephritis", "メサンギウム増殖性糸球体腎炎"),
    ("endocapillary_proliferative", "endocapillary proliferative glomerulonephritis", "管内増殖性糸球体腎炎"),
    ("mpgn", "membranoproliferative glomerulonephritis (types I, III)", "膜性増殖性糸球体腎炎（I型, III型）"),
    ("dense_deposit", "dense deposit disease", "デンスデポジット病"),
    ("c3_glomerulopathy", "C3 glomerulopathy", "C3腎症"),
    ("crescentic_necrotizing", "crescentic and necrotizing glomerulonephritis", "半月体形成性壊死性糸球体腎炎"),
    ("sclerosing", "sclerosing glomerulonephritis", "硬化性糸球体腎炎"),
    ("nephrosclerosis", "nephrosclerosis", "腎硬化症"),
    ("acute_interstitial_nephritis", "acute interstitial nephritis", "急性間質性腎炎"),
    ("acute_tubular_necrosis", "acute tubular necrosis", "急性尿細管壊死"),
    ("chronic_interstitial_nephritis", "chronic interstitial nephritis", "慢性間質性腎炎"),
    ("other", "other", "その他"),
)

AXES: Mapping[Axis, Mapping[str, Term]] = {
    Axis.clinical_diagnosis: CLINICAL_DIAGNOSIS,
    Axis.pathogenesis: PATHOGENESIS,
    Axis.histopathology: HISTOPATHOLOGY,
}

AXIS_LABELS: Mapping[Axis, Term] = {
    Axis.clinical_diagnosis: Term("clinical_diagnosis", "clinical diagnosis", "臨床診断"),
    Axis.pathogenesis: Term("pathogenesis", "pathogenesis", "成因分類"),
    Axis.histopathology: Term("histopathology", "histopathology pattern", "病型分類"),
}

NOT_ASSESSED = Term("not_assessed", "not assessed", "未評価")


def is_valid(axis: Axis, code: str) -> bool:
    return code in AXES[axis]


def as_json() -> dict[str, object]:
    """The whole vocabulary for the report form (GET /api/reports/vocabulary)."""
    return {
        "version": VOCABULARY_VERSION,
        "not_assessed": {"en": NOT_ASSESSED.en, "ja": NOT_ASSESSED.ja},
        "axes": {
            axis.value: {
                "label": {"en": AXIS_LABELS[axis].en, "ja": AXIS_LABELS[axis].ja},
                "terms": [{"code": t.code, "en": t.en, "ja": t.ja} for t in terms.values()],
            }
            for axis, terms in AXES.items()
        },
    }
