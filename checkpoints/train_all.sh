#!/usr/bin/env bash
# Retrains the shipped starter checkpoints with the CLI; docs/checkpoints.md records the result.
# Usage: AELAB_DATA_DIR=/path/with/MNIST bash checkpoints/train_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
common=(--dataset mnist --seed 0 --patience 5)
conv=(--epochs 60 --batch-size 128 --lr 5e-3)
mlp=(--epochs 120 --batch-size 256 --lr 3e-3 --shift 2)
$PY -m aelab train --model conv_ae  "${conv[@]}" "${common[@]}" --out checkpoints/conv_ae.safetensors
$PY -m aelab train --model vae      "${mlp[@]}" "${common[@]}" --out checkpoints/vae.safetensors
$PY -m aelab train --model conv_vae "${conv[@]}" "${common[@]}" --shift 1 --shift-until 0.8 \
    --out checkpoints/conv_vae.safetensors
$PY -m aelab train --model vae      "${mlp[@]}" "${common[@]}" --beta 4 --out checkpoints/beta_vae.safetensors
$PY -m aelab train --model conv_ae  "${conv[@]}" "${common[@]}" --denoise gaussian --noise-level 0.3 \
    --out checkpoints/denoising_conv_ae.safetensors
