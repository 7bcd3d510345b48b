#!/usr/bin/env bash
# Rebuild glom_detector v1.1.0 from scratch: regenerate the synthetic slides (fixed seeds), retrain on
# them plus the fixed "train" half of the real AIDPATH PAS fields, then re-measure and write the card.
#
#   models/training/rebuild_detector.sh [WORKDIR]      (default WORKDIR=/work/data_gc; needs the train extra)
#
# Real data: /work/shared/data (glomeruli/ crops, CC BY-NC-SA 4.0; fields/aidpath-pas, CC BY 4.0 — see its README).
# Split of the 24 fields (worker.evaluation.fields.field_split): names sorted, first 12 = train
# (10003 … 10165), last 12 = heldout (10169 … 10224). Training never reads the heldout half.
# 10165.png is left out of training: the data README says a detached tuft in it is not annotated.
# Training is CPU-bound (2 threads, 1200 steps of 12 synthetic + 6 real 192² patches): ~18 min.
set -euo pipefail
W=${1:-/work/data_gc}
DATA=${DATA:-/work/shared/data}
G=$DATA/glomeruli
F=$DATA/fields/aidpath-pas
REPO=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$W/train" "$W/val"

# --- training slides: drawn (d_) and composited with SESCAM crops (c_), 2 sections each
for spec in d_pas_101.tiff d_pas_102.tiff d_pas_103.tiff c_pas_104.tiff c_pas_105.svs \
            d_pam_106.tiff d_pam_107.tiff d_pam_108.tiff c_pam_109.tiff c_pam_110.svs \
            d_mt_111.tiff d_mt_112.tiff d_mt_113.tiff c_mt_114.tiff c_mt_115.svs \
            d_he_118.tiff d_he_119.tiff d_he_120.tiff c_he_121.svs d_mt_122.tiff; do
  kind=${spec%%_*}; rest=${spec#*_}; stain=${rest%%_*}; seed=${rest#*_}; seed=${seed%%.*}
  [ -f "$W/train/$spec" ] && continue
  if [ "$kind" = c ]; then
    glomcheck synth "$W/train/$spec" --seed "$seed" --stain "$stain" --sections 2 --glomeruli-from "$G" --centre SESCAM
  else
    glomcheck synth "$W/train/$spec" --seed "$seed" --stain "$stain" --sections 2
  fi
done

# --- held-out synthetic slides (seeds 901–908; composited ones use centre SAS crops, never trained on)
j=900
for st in pas pam mt he; do
  j=$((j+1)); [ -f "$W/val/d_${st}_$j.tiff" ] || glomcheck synth "$W/val/d_${st}_$j.tiff" --seed $j --stain $st --sections 2
  j=$((j+1)); [ -f "$W/val/c_${st}_$j.svs" ] || glomcheck synth "$W/val/c_${st}_$j.svs" --seed $j --stain $st --sections 2 --glomeruli-from "$G" --centre SAS
done

# --- train (writes model.onnx + card.json with its SHA-256)
glomcheck train detector "$W/train" --out "$REPO/models/glom_detector" --steps 1200 --per-slide 150 --seed 0 --threads 2 \
  --fields "$F" --per-field 60 --real-batch 6 --exclude-field 10165.png

# --- measure: held-out synthetic slides + held-out real fields into the card, render CARD.md
glomcheck train card --val-slides "$W/val" --fields "$F" --fields-split heldout
glomcheck evaluate --fields "$F" --split heldout
