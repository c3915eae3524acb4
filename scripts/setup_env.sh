#!/usr/bin/env bash
# Create .venv with everything cephmark needs (CPU). GPU users: create the venv, install their
# CUDA torch + torchvision first, then run this script with TORCH_SPEC="" to keep it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
TORCH_SPEC=${TORCH_SPEC-"torch==2.14.1 torchvision==0.29.1"}
[ -z "$TORCH_SPEC" ] || python -m pip install -q $TORCH_SPEC
python -m pip install -q -r requirements.txt
python -m pip install -q --no-deps monailabel==0.8.5
python -m pip install -q --no-deps -e .
