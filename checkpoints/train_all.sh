#!/usr/bin/env bash
# Retrains the shipped starter checkpoints with the CLI; checkpoints/README.md records the result.
# Usage: AELAB_DATA_DIR=/path/with/MNIST bash checkpoints/train_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
common=(--dataset mnist --batch-size 64 --seed 0 --patience 5)
$PY -m aelab train --model conv_ae  --epochs 40 "${common[@]}" --out checkpoints/conv_ae.safetensors
$PY -m aelab train --model vae      --epochs 80 "${common[@]}" --out checkpoints/vae.safetensors
$PY -m aelab train --model conv_vae --epochs 40 "${common[@]}" --out checkpoints/conv_vae.safetensors
$PY -m aelab train --model vae      --epochs 80 "${common[@]}" --beta 4 --out checkpoints/beta_vae.safetensors
$PY -m aelab train --model conv_ae  --epochs 40 "${common[@]}" --denoise gaussian --noise-level 0.3 \
    --out checkpoints/denoising_conv_ae.safetensors
