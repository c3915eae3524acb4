#!/usr/bin/env bash
# The recipe again with other seeds (run.sh first: it writes the splits and the image cache).
# Usage: benchmarks/p1p2/seeds.sh 1 2   -> runs/p1p2/seed<N>/{coarse,refiner,eval_test1_refined}
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${CEPHMARK_SHARED:-../shared}  # the shared data folder (default: beside the checkout)
IMAGES=${ISBI_IMAGES:-$SHARED/data/isbi2015/images}
RECIPE=configs/p1p2_few_labels.yaml
R=runs/p1p2
DATA=(--annotations $R/train18.json --val-annotations $R/val6.json --image-dir "$IMAGES"
      --cache-dir $R/cache)
for seed in "$@"; do
  S=$R/seed$seed
  mkdir -p $S
  cephmark finetune --config $RECIPE "${DATA[@]}" --seed $seed --output $S/coarse > $S/coarse.log 2>&1
  cephmark finetune --config $RECIPE "${DATA[@]}" --seed $seed --crop-size 256 --epochs 40 \
      --unfreeze-after 3 --output $S/refiner > $S/refiner.log 2>&1
  cephmark evaluate --config $RECIPE --checkpoint $S/coarse/checkpoint_p1_p2_cldetection.pth \
      --refine-checkpoint $S/refiner/checkpoint_p1_p2_cldetection.pth --annotations $R/test1.json \
      --image-dir "$IMAGES" --spacing 0.1 --out $S/eval_test1_refined > $S/eval_test1_refined.log 2>&1
  grep -E "^OVERALL|ruler mm/px" $S/eval_test1_refined.log | sed "s/^/seed $seed: /"
done
