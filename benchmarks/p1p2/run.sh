#!/usr/bin/env bash
# p1/p2 from few labels: the exact commands behind benchmarks/p1p2/RESULTS.md (CPU, 2 cores,
# about 15 minutes on a quiet machine). Data: the shared ISBI 2015 images +
# annotations_p1_p2.json (research use only; see ../shared/data/isbi2015/README.md).
# Data locations: CEPHMARK_SHARED (default ../shared), ISBI_IMAGES (default $CEPHMARK_SHARED/data/isbi2015/images).
# Outputs go to runs/p1p2/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${CEPHMARK_SHARED:-../shared}  # the shared data folder (default: beside the checkout)
IMAGES=${ISBI_IMAGES:-$SHARED/data/isbi2015/images}
RECIPE=configs/p1p2_few_labels.yaml
R=runs/p1p2
mkdir -p $R/logs

# 1. splits: train18 (001-018), val6 (019-024: early stopping / model selection),
#    dev (025-150: choosing inference options), test1 (151-300: the reported figures)
python benchmarks/p1p2/make_splits.py $R --annotations "$SHARED/data/isbi2015/annotations_p1_p2.json"

DATA=(--annotations $R/train18.json --val-annotations $R/val6.json --image-dir "$IMAGES"
      --cache-dir $R/cache)

# 2. coarse model: whole image, N = 256, 20 epochs, backbone unfrozen after 1 (recipe defaults)
cephmark finetune --config $RECIPE "${DATA[@]}" --output $R/coarse 2>&1 | tee $R/logs/coarse.log

# 3. crop refiner: 256 x 256 original pixels around p1/p2 (jitter 0.25) -> 256 x 256 input
cephmark finetune --config $RECIPE "${DATA[@]}" --crop-size 256 --epochs 40 --unfreeze-after 3 \
    --output $R/refiner 2>&1 | tee $R/logs/refiner.log

# 4. evaluation (dev for choosing, test1 for reporting): coarse alone; coarse + refiner without
#    the coarse prior; the recipe's refine options (one crop, prior sigma 48 px)
COARSE=$R/coarse/checkpoint_p1_p2_cldetection.pth
REFINER=$R/refiner/checkpoint_p1_p2_cldetection.pth
for split in dev test1; do
  cephmark evaluate --config $RECIPE --checkpoint $COARSE --annotations $R/$split.json \
      --image-dir "$IMAGES" --spacing 0.1 --out $R/eval_${split}_coarse | tee $R/logs/eval_${split}_coarse.log
  cephmark evaluate --config $RECIPE --checkpoint $COARSE --refine-checkpoint $REFINER \
      --refine-shift 0 --refine-prior-sigma 0 --annotations $R/$split.json --image-dir "$IMAGES" \
      --spacing 0.1 --out $R/eval_${split}_refined_plain | tee $R/logs/eval_${split}_refined_plain.log
  cephmark evaluate --config $RECIPE --checkpoint $COARSE --refine-checkpoint $REFINER \
      --annotations $R/$split.json --image-dir "$IMAGES" --spacing 0.1 \
      --out $R/eval_${split}_refined | tee $R/logs/eval_${split}_refined.log
done

# 5. the seed's approach: frozen starter backbone + pooled features -> MLP -> (x, y) x 2,
#    same images, N, augmentation, optimiser and epochs as the coarse model
python benchmarks/p1p2/regression_baseline.py --train $R/train18.json --val $R/val6.json \
    --test $R/test1.json --image-dir "$IMAGES" --image-size 256 --epochs 20 --batch-size 2 \
    --lr 0.003 --cache-dir $R/cache --out $R/regression 2>&1 | tee $R/logs/regression.log
