#!/usr/bin/env bash
# The few-label p1/p2 recipe (configs/p1p2_few_labels.yaml, unchanged) on the second unit, 3-fold
# cross-validation: per fold a coarse model and a crop refiner from 14 train + 4 validation
# images, then predictions on the 9 test images (runs/new_device/p1p2/f{k}/pred_test.json).
# Usage: [REFINER=0] benchmarks/new_device/p1p2_cv.sh [folds...]   (default 0 1 2); seed 0.
# REFINER=0: the coarse model only (what fitted in the CPU time of the measured session).
# One thread per process (OMP_NUM_THREADS=1): on a shared, busy CPU torch's default of one
# thread per core was ~25x slower here.
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
REFINER=${REFINER:-1}
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD/lib
PY=${PY:-.venv/bin/python}
IMAGES=../shared/data/hamedan_dev/images
F=runs/new_device/folds
R=runs/new_device/p1p2
RECIPE=configs/p1p2_few_labels.yaml
[ -f $F/p1p2_f0_train.json ] || $PY benchmarks/new_device/make_folds.py $F
for k in "${@:-0 1 2}"; do
  for k1 in $k; do
    D=(--annotations $F/p1p2_f${k1}_train.json --val-annotations $F/p1p2_f${k1}_val.json
       --image-dir $IMAGES --cache-dir $R/cache --seed 0)
    mkdir -p $R/f$k1
    [ -f $R/f$k1/coarse/checkpoint_p1_p2_cldetection.pth ] || \
      $PY -m cephmark finetune --config $RECIPE "${D[@]}" --output $R/f$k1/coarse > $R/f$k1/coarse.log 2>&1
    [ "$REFINER" = 0 ] || [ -f $R/f$k1/refiner/checkpoint_p1_p2_cldetection.pth ] || \
      $PY -m cephmark finetune --config $RECIPE "${D[@]}" --crop-size 256 --epochs 40 --unfreeze-after 3 \
        --output $R/f$k1/refiner > $R/f$k1/refiner.log 2>&1
    REF=(--refiner $R/f$k1/refiner/checkpoint_p1_p2_cldetection.pth)
    [ "$REFINER" != 0 ] || REF=()
    $PY benchmarks/new_device/predict_p1p2.py --config $RECIPE --coarse $R/f$k1/coarse/checkpoint_p1_p2_cldetection.pth \
        "${REF[@]}" --annotations $F/p1p2_f${k1}_test.json \
        --image-dir $IMAGES --out $R/f$k1/pred_test.json
  done
done
