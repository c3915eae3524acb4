#!/usr/bin/env bash
# Landmark adaptation on the second unit, 3-fold cross-validation (15 train + 3 validation
# images per fold, 10 test), seed 0. Usage: landmarks_cv.sh VARIANT [folds...]
#   unadapted  the bundled starter as is (evaluation only)
#   recipe     configs/adapt_new_unit.yaml (backbone frozen: heads only, strong intensity augmentation)
#   partial    the recipe, 20 epochs, transition3 + stage4 trainable (lr x 0.1) after 2
#   full       the recipe, 20 epochs, the whole backbone trainable (lr x 0.1) after 2
#   partial5   the recipe (5 epochs) with transition3 + stage4 trainable (lr x 0.1) after 2
#   mix        the recipe + 6 ISBI images (first 6 of ISBI train) in the training set
#   issue      the issue's run: defaults, 30 epochs, whole backbone after 5 (lr 1e-3, normal augmentation)
# Test predictions: runs/new_device/landmarks/VARIANT/f{k}/test/ (cephmark evaluate --out).
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}  # see p1p2_cv.sh
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD/lib
PY=${PY:-.venv/bin/python}
F=runs/new_device/folds
V=$1; shift
R=runs/new_device/landmarks/$V
[ -f $F/lm_f0_train.csv ] || $PY benchmarks/new_device/make_folds.py $F
for k in ${@:-0 1 2}; do
  mkdir -p $R/f$k
  TRAIN=$F/lm_f${k}_train.csv
  case $V in
    unadapted) ;;
    recipe) OPT=() ;;
    partial) OPT=(--epochs 20 --unfreeze-after 2 --trainable-backbone transition3,stage4) ;;
    partial5) OPT=(--unfreeze-after 2 --trainable-backbone transition3,stage4) ;;
    full) OPT=(--epochs 20 --unfreeze-after 2 --trainable-backbone all) ;;
    mix) cat $F/lm_f${k}_train.csv > $R/f$k/train_mix.csv; tail -n +2 $F/lm_isbi6.csv >> $R/f$k/train_mix.csv
         TRAIN=$R/f$k/train_mix.csv; OPT=() ;;
  esac
  MODEL=()  # evaluate's default: the bundled starter
  if [ "$V" != unadapted ]; then
    CKPT=$R/f$k/out/checkpoint_19_landmarks_cldetection.pth
    MODEL=(--checkpoint $CKPT)
    if [ ! -f $CKPT ]; then
      case $V in
        issue) $PY -m cephmark finetune --cldetection-model starter --annotations $TRAIN \
                --val-annotations $F/lm_f${k}_val.csv --cache-dir runs/new_device/cache512 \
                --epochs 30 --unfreeze-after 5 --batch-size 2 --output $R/f$k/out --seed 0 > $R/f$k/train.log 2>&1 ;;
        *) $PY -m cephmark finetune --config configs/adapt_new_unit.yaml --annotations $TRAIN \
                --val-annotations $F/lm_f${k}_val.csv --cache-dir runs/new_device/cache512 \
                --output $R/f$k/out --seed 0 "${OPT[@]}" > $R/f$k/train.log 2>&1 ;;
      esac
    fi
  fi
  $PY -m cephmark evaluate "${MODEL[@]}" --annotations $F/lm_f${k}_test.csv --device cpu \
      --out $R/f$k/test > $R/f$k/eval.log 2>&1
  grep -i "mre\|overall" $R/f$k/eval.log | head -3
done
