#!/usr/bin/env bash
# p1/p2 on the second unit from a model that already finds an ISBI ruler: the ISBI ruler coarse
# model (SOURCE) fine-tuned on each fold's 14 + 4 images with its backbone frozen (heads only,
# p1/p2 heads start from its own), 10 epochs, N from the source (256); then the ruler pitch
# (cephmark.calibration.pitch) on the test images. Usage: p1p2_adapt_cv.sh SOURCE [folds...]
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}  # see p1p2_cv.sh
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD/lib
PY=${PY:-.venv/bin/python}
IMAGES=../shared/data/hamedan_dev/images
F=runs/new_device/folds
R=runs/new_device/p1p2_adapt
SOURCE=$1; shift
[ -f $F/p1p2_f0_train.json ] || $PY benchmarks/new_device/make_folds.py $F
for k in ${@:-0 1 2}; do
  mkdir -p $R/f$k
  C=$R/f$k/coarse/checkpoint_p1_p2_cldetection.pth
  [ -f $C ] || $PY -m cephmark finetune --config configs/p1p2_few_labels.yaml --cldetection-model $SOURCE \
      --init-from p1,p2 --unfreeze-after 1000 --epochs 10 --annotations $F/p1p2_f${k}_train.json \
      --val-annotations $F/p1p2_f${k}_val.json --image-dir $IMAGES --cache-dir $R/cache --seed 0 \
      --output $R/f$k/coarse > $R/f$k/coarse.log 2>&1
  $PY benchmarks/new_device/predict_p1p2.py --coarse $C --annotations $F/p1p2_f${k}_test.json \
      --image-dir $IMAGES --out $R/f$k/pred_test.json > $R/f$k/pred.log 2>&1
done
