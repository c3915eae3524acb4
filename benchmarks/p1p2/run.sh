#!/usr/bin/env bash
# p1/p2 from few labels: the exact commands behind benchmarks/p1p2/RESULTS.md (CPU, 2 cores).
# Data: the shared ISBI 2015 images + annotations_p1_p2.json (research use only; see
# /work/shared/data/isbi2015/README.md). Outputs go to runs/p1p2/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/../.."
IMAGES=/work/shared/data/isbi2015/images
STARTER=lib/cephmark/weights/starter_isbi19_512.pth
mkdir -p runs/p1p2/logs

# 1. splits: train18 (001-018), val6 (019-024, early stopping / model selection), test1 (151-300)
python benchmarks/p1p2/make_splits.py runs/p1p2

COMMON=(--config benchmarks/p1p2/p1p2.yaml --cldetection-model "$STARTER" --landmarks p1,p2
        --init-from nasion,nasion --annotations runs/p1p2/train18.json
        --val-annotations runs/p1p2/val6.json --image-dir "$IMAGES" --batch-size 2 --lr 0.003
        --workers 0 --cache-dir runs/p1p2/cache)

# 2. coarse model: whole image, N = 256, backbone unfrozen after 1 epoch
cephmark finetune "${COMMON[@]}" --image-size 256 --epochs 8 --unfreeze-after 1 \
    --output runs/p1p2/coarse256 2>&1 | tee runs/p1p2/logs/coarse256.log

# 3. crop refiner: 256 x 256 original pixels around p1/p2 -> 256 x 256 input (full resolution)
cephmark finetune "${COMMON[@]}" --crop-size 256 --image-size 256 --epochs 10 --unfreeze-after 3 \
    --output runs/p1p2/refine256 2>&1 | tee runs/p1p2/logs/refine256.log
# (the recorded run was stopped after epoch 6 and continued with the same options +
#  --resume runs/p1p2/refine256/last.pth; the coarse run above was stopped after epoch 4)

# 4. test1: coarse alone, coarse + refiner
cephmark evaluate --checkpoint runs/p1p2/coarse256/checkpoint_p1_p2_cldetection.pth \
    --annotations runs/p1p2/test1.json --image-dir "$IMAGES" --spacing 0.1 --no-flip \
    --out runs/p1p2/eval_coarse256 | tee runs/p1p2/logs/eval_coarse256.log
cephmark evaluate --checkpoint runs/p1p2/coarse256/checkpoint_p1_p2_cldetection.pth \
    --refine-checkpoint runs/p1p2/refine256/checkpoint_p1_p2_cldetection.pth \
    --annotations runs/p1p2/test1.json --image-dir "$IMAGES" --spacing 0.1 --no-flip \
    --out runs/p1p2/eval_refined | tee runs/p1p2/logs/eval_refined.log

# 5. the seed's approach: frozen starter backbone + pooled features -> MLP -> (x, y) x 2
python benchmarks/p1p2/regression_baseline.py --train runs/p1p2/train18.json \
    --val runs/p1p2/val6.json --test runs/p1p2/test1.json --image-dir "$IMAGES" \
    --image-size 256 --epochs 8 --batch-size 2 --lr 0.003 --cache-dir runs/p1p2/cache \
    --out runs/p1p2/regression256 2>&1 | tee runs/p1p2/logs/regression256.log
