"""Training speed and quality on this machine: how good do the models get in a fixed time?

Trains on the MNIST training split in $AELAB_DATA_DIR (here the 5k subset) for a wall-clock
budget and scores the full 10k test set: negative ELBO (VAEs, nats per image, BCE on
grayscale) or reconstruction loss (AE). Also reports training throughput in images/s and, for
the VAEs, where the limit lies: the -ELBO on the training images themselves, and the -ELBO on
1,000 test and 1,000 training images with each posterior fitted by gradient descent (the
decoder's own limit, which no better encoder could beat; the encoder's gap to it on images it
saw and on images it did not).

    AELAB_DATA_DIR=../shared/datasets python bench/train_speed.py [--quick]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from aelab.data.dataset import split_validation  # noqa: E402
from aelab.data.registry import load_dataset
from aelab.explore.metrics import evaluate, fitted_posterior_nelbo  # noqa: E402
from aelab.models.config import ModelConfig
from aelab.store.checkpoints import load_checkpoint  # noqa: E402
from aelab.training.config import TrainConfig, epochs_trained
from aelab.training.trainer import train

# (model, seconds, training settings, goal in nats or None); the lr decays to 0 over the budget (cosine)
RUNS = [
    ("vae", 30, dict(batch_size=256, lr=3e-3, shift=2, shift_until=0.7), 110.0),
    ("conv_vae", 120, dict(batch_size=96, lr=5e-3, shift=1, shift_until=0.8), 100.0),
    ("conv_ae", 30, dict(batch_size=128, lr=5e-3), None),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of each budget, to check the script")
    args = parser.parse_args()
    train_data = load_dataset("mnist", "train", download=False)
    test = load_dataset("mnist", "test", download=False)
    print(
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}; train {len(train_data)} images, test {len(test)}"
    )
    print(
        f"{'model':10} {'budget s':>8} {'epochs':>6} {'img/s':>7} {'test -ELBO':>10} {'test recon':>10} "
        f"{'train -ELBO':>11}  goal"
    )
    limits = []
    for name, seconds, settings, goal in RUNS:
        seconds = seconds / 10 if args.quick else seconds
        cfg = TrainConfig(model=ModelConfig.for_model(name), epochs=10_000, patience=0, max_seconds=seconds, **settings)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            result = train(cfg, train_data, Path(tmp) / "m.safetensors")
            wall = time.perf_counter() - start
            model = load_checkpoint(result.path).model
            metrics = evaluate(model, test.images)
        if model.is_variational:  # the encoder's share: its gap to fitted posteriors on seen and unseen images
            trained_on = split_validation(train_data, cfg.val_fraction, cfg.seed)[0].images[:1000]
            for label, few in (("test", test.images[:1000]), ("training", trained_on)):
                limits.append(
                    f"{name}: -ELBO on the first 1,000 {label} images {evaluate(model, few)['nelbo']:.2f} "
                    f"nats with the encoder, {fitted_posterior_nelbo(model, few, steps=200):.2f} with "
                    "posteriors fitted per image (200 Adam steps)"
                )
        seen = sum(log.images_per_second * log.seconds for log in result.history)
        speed = seen / sum(log.seconds for log in result.history)
        nelbo = metrics.get("nelbo")
        fit = evaluate(model, train_data.images)["nelbo"] if model.is_variational else float("nan")
        verdict = "" if goal is None else f"<= {goal:g}: {'met' if nelbo <= goal else 'NOT met'}"
        print(
            f"{name:10} {seconds:8.0f} {epochs_trained(result.history):6.1f} {speed:7.0f} "
            f"{nelbo if nelbo is not None else float('nan'):10.2f} {metrics['recon']:10.2f} {fit:11.2f}  {verdict}"
            f"  (wall {wall:.0f} s incl. validation)"
        )
    print("\n".join(limits))


if __name__ == "__main__":
    main()
