#!/usr/bin/env bash
# Retrains the two shipped dsprites checkpoints (1x32x32, aelab.data.shapes.DSPRITES: no download) with the CLI, side
# by side, one thread each: the best model with beta > 1 of the beta sweep (bench/beta_sweep.py, checkpoints/
# beta_sweep.json: the beta-TCVAE with TC weight 6, seed 1) and its beta=1 sibling (the same seed, data and budget;
# only the objective and beta differ), with the sweep's flags. docs/checkpoints.md records their metrics.
# Usage: bash checkpoints/train_dsprites.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
common=(--model vae --dataset dsprites --latent-dim 10 --widths 256 256 --epochs 30 --batch-size 64 --lr 0.002
        --seed 1 --patience 0 --threads 1)
OMP_NUM_THREADS=1 $PY -m aelab train "${common[@]}" --beta 6 --objective beta_tcvae --out checkpoints/dsprites_beta_tcvae.safetensors &
OMP_NUM_THREADS=1 $PY -m aelab train "${common[@]}" --beta 1 --out checkpoints/dsprites_vae.safetensors &
wait
