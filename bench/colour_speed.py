"""Colour speed on this machine: a ConvVAE on 64x64 RGB shapes, beside the MNIST ConvVAE.

Trains the default ConvVAE for 3x64x64 images (four stride-2 convolutions, 2.9M parameters) on the
shapes dataset's training split for a wall-clock budget and reports training images per second; then
times encoding 10,000 images (encoding.encode_all, what the latent map runs on a new model and dataset)
for it and for the 1x28x28 ConvVAE on MNIST's test split. One torch thread unless --threads says more.

    AELAB_DATA_DIR=../shared/datasets python bench/colour_speed.py [--seconds 60] [--threads 1]
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
from aelab.data import shapes  # noqa: E402
from aelab.data.registry import load_dataset  # noqa: E402
from aelab.explore.encoding import encode_all  # noqa: E402
from aelab.explore.metrics import evaluate  # noqa: E402
from aelab.models.autoencoders import build_model, count_parameters
from aelab.models.config import ModelConfig
from aelab.store.checkpoints import load_checkpoint  # noqa: E402
from aelab.training.config import TrainConfig, epochs_trained
from aelab.training.trainer import train

ENCODED = 10_000


def encoding_seconds(model, images: torch.Tensor) -> float:
    start = time.perf_counter()
    encode_all(model, images)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="training budget")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset("shapes", "train")
    print(
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}; shapes train {len(data)} images {data.shape}"
    )

    cfg = TrainConfig(
        model=ModelConfig.for_model("conv_vae", channels=3, side=64),
        dataset="shapes",
        epochs=10_000,
        batch_size=64,
        patience=0,
        max_seconds=args.seconds,
    )
    with tempfile.TemporaryDirectory() as tmp:
        result = train(cfg, data, Path(tmp) / "cvae64.safetensors")
        model = load_checkpoint(result.path).model
    seen = sum(log.images_per_second * log.seconds for log in result.history)
    speed = seen / sum(log.seconds for log in result.history)
    test = load_dataset("shapes", "test")
    nelbo = evaluate(model, test.images)["nelbo"]
    print(
        f"conv_vae 3x64x64 ({count_parameters(model):,} parameters): {speed:.0f} training images/s over "
        f"{epochs_trained(result.history):.2f} epochs in {args.seconds:g} s; test -ELBO {nelbo:.1f} nats per image "
        f"(over 12,288 values)"
    )

    colour = torch.from_numpy(shapes.make_shapes(ENCODED, seed=1, side=64, channels=3)[0])
    mnist = load_dataset("mnist", "test", download=False).images[:ENCODED]
    gray = build_model(ModelConfig.for_model("conv_vae")).eval()
    for name, net, images in (("conv_vae 3x64x64", model, colour), ("conv_vae 1x28x28", gray, mnist)):
        encoding_seconds(net, images[:500])  # warm-up: the first batch pays for oneDNN's kernel choice
        print(f"{name}: encoding {len(images):,} images took {encoding_seconds(net, images):.2f} s")


if __name__ == "__main__":
    main()
