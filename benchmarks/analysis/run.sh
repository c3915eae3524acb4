#!/usr/bin/env bash
# ISBI 2015 test1 (images 151-300, shared data beside the checkout): the tables of
# benchmarks/analysis/RESULTS.md. CPU only; outputs under runs/analysis/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
export PYTHONPATH=$PWD/lib
IMAGES=${CEPHMARK_SHARED:-../shared}/data/isbi2015/images
mkdir -p runs/analysis
test1=$(for i in $(seq 151 300); do echo "$IMAGES/$i.jpg"; done)

# 1. the starter model's landmarks on test1 (cached: the other steps reuse them)
[ -f runs/analysis/starter_test1.json ] || \
  $PY -m cephmark predict $test1 --device cpu --out runs/analysis/starter_test1.json
# 2. the ISBI-eight measurements: starter and senior vs the mean of the two doctors, senior vs junior
$PY benchmarks/analysis/isbi_test1.py --predictions runs/analysis/starter_test1.json
# 3. calibration with the bundled ruler model, through cephmark analyze on the cached landmarks
$PY -m cephmark analyze --landmarks runs/analysis/starter_test1.json --calibration "${RULER:-ruler}" \
  --device cpu --out runs/analysis/test1_analysis.json
$PY benchmarks/analysis/calibration_test1.py runs/analysis/test1_analysis.json
# 4. cost: predict vs analyze (report off) vs the report page, side by side on the samples
$PY benchmarks/analysis/cost.py samples/ --rounds 3
