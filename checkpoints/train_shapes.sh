#!/usr/bin/env bash
# Retrains the two shipped shapes checkpoints (3x64x64 RGB, aelab.data.shapes: no download) with the CLI, side by side,
# one thread each, on the same data, seed and time budget: beta 1 and beta 4. docs/checkpoints.md records the
# result and bench/disentanglement.py compares their MIG.
# Usage: bash checkpoints/train_shapes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
common=(--model conv_vae --dataset shapes --latent-dim 10 --widths 32 64 64 64 --hidden 128 --epochs 40
        --batch-size 64 --max-seconds 1500 --seed 0 --threads 1 --patience 0)
OMP_NUM_THREADS=1 $PY -m aelab train "${common[@]}" --beta 1 --out checkpoints/shapes_vae.safetensors &
OMP_NUM_THREADS=1 $PY -m aelab train "${common[@]}" --beta 4 --out checkpoints/shapes_beta_vae.safetensors &
wait
