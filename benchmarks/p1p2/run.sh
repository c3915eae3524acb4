#!/usr/bin/env bash
# p1/p2 from few labels: the exact commands behind benchmarks/p1p2/RESULTS.md (CPU, 2 cores).
# Data: the shared ISBI 2015 images + annotations_p1_p2.json (research use only; see
# ../shared/data/isbi2015/README.md). Outputs go to runs/p1p2/ (git-ignored).
# Data locations: CEPHMARK_SHARED (default ../shared), ISBI_IMAGES (default $CEPHMARK_SHARED/data/isbi2015/images).
# On a shared machine export OMP_NUM_THREADS=1 first (many 2-thread jobs on 2 cores spin).
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${CEPHMARK_SHARED:-../shared}  # the shared data folder (default: beside the checkout)
IMAGES=${ISBI_IMAGES:-$SHARED/data/isbi2015/images}
LABELS=$SHARED/data/isbi2015/annotations_p1_p2.json
RECIPE=configs/p1p2_few_labels.yaml
R=runs/p1p2
mkdir -p $R/logs

# 1. splits: train18 (001-018), val6 (019-024), dev (025-150: choosing options and flag
#    thresholds), test1 (151-300: the reported figures); 12 and 24 in total
python benchmarks/p1p2/make_splits.py $R --annotations "$LABELS"
python benchmarks/p1p2/make_splits.py $R --annotations "$LABELS" --n-train 12 --n-val 0 --train-only
python benchmarks/p1p2/make_splits.py $R --annotations "$LABELS" --n-train 24 --n-val 0 --train-only

# 2. the one-file recipe, "N in total": the N labelled images are all the user has; finetune
#    takes its own validation split from them (val_fraction 0.2). One run trains the coarse
#    model and the crop refiner and writes one cascade file.
for n in 18; do
  for seed in ${SEEDS:-0 1 2}; do
    cephmark finetune --config $RECIPE --annotations $R/train$n.json --image-dir "$IMAGES" \
        --cache-dir $R/cache --seed $seed --output $R/total${n}_s$seed > $R/logs/total${n}_s$seed.log 2>&1
  done
done

# 3. evaluation with the flags: dev (thresholds chosen there) and test1 (reported)
for run in $R/total18_s*; do
  for split in dev test1; do
    python benchmarks/p1p2/ruler_eval.py --checkpoint $run/checkpoint_p1_p2_cldetection.pth \
        --annotations $R/$split.json --image-dir "$IMAGES" --out $run/${split}_flags.csv | tee $run/${split}_flags.log
  done
done

# 4. the bundled ruler model (lib/cephmark/weights/ruler_isbi_p1p2.pth): the recipe on
#    train18 + val6 with the refiner on the coarse model's frozen backbone, then fp16
cephmark finetune --config $RECIPE --annotations $R/train18.json --val-annotations $R/val6.json \
    --image-dir "$IMAGES" --cache-dir $R/cache --share-backbone --output runs/ruler/bundled \
    > $R/logs/bundled.log 2>&1
python benchmarks/p1p2/slim_cascade.py runs/ruler/bundled/checkpoint_p1_p2_cldetection.pth \
    lib/cephmark/weights/ruler_isbi_p1p2.pth --half
for f in runs/ruler/bundled/checkpoint_p1_p2_cldetection.pth lib/cephmark/weights/ruler_isbi_p1p2.pth; do
  python benchmarks/p1p2/ruler_eval.py --checkpoint $f --annotations $R/test1.json --image-dir "$IMAGES" \
      --out runs/ruler/$(basename $(dirname $f))_test1.csv
done
