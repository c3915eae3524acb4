#!/usr/bin/env bash
# The one command run on the lent GPU machine (device tool), from the repo root, with
# .whl (monai, pydicom wheels) and .devdata (ISBI images resized to 768 px high + CSV labels,
# made by benchmarks/starter/make_devdata.py) carried along. Trains the starter model under a
# wall-clock cap, then runs the GPU inference/memory check.
set -uo pipefail
SITE=$(mktemp -d); RUN=$(mktemp -d)   # installed wheels; the training run's own output
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl || exit 1
export PYTHONPATH=$SITE:$PWD/lib PYTHONUNBUFFERED=1
OUT=${OUT:-runs/gpu}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
python3 benchmarks/starter/train_starter.py --max-seconds "${TRAIN_SECONDS:-200}" \
  --export "$OUT/starter_isbi19_512.pth" -- \
  --config "${CONFIG:-configs/starter_isbi19.yaml}" ${FROM:+--cldetection-model "$FROM"} --device cuda \
  --annotations .devdata/isbi768_train.csv --val-annotations .devdata/isbi768_test1.csv \
  --image-dir .devdata/isbi768 --output "$RUN" --epochs "${EPOCHS:-40}" 2>&1 | tee "$OUT/starter_log.txt"
cp "$RUN/metrics.csv" "$OUT/starter_metrics.csv"; cp "$RUN/learning_curve.png" "$OUT/starter_learning_curve.png"
[ "${CHECK_SECONDS:-100}" = 0 ] || timeout "${CHECK_SECONDS:-100}" python3 benchmarks/gpu_check.py --deadline "$((${CHECK_SECONDS:-100} - 10))" --no-compile 2>&1 | tee "$OUT/gpu_check_log.txt"
