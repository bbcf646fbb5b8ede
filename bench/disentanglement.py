"""Does the beta-VAE disentangle the shapes' factors better than the beta=1 VAE trained on the same data and
budget? MIG (and, on a subset, DCI) of the two shipped shapes checkpoints on the shapes test split.

Both were trained by checkpoints/train_shapes.sh: the same ConvVAE, data, seed and time budget, beta 1 and 4.

    AELAB_DATA_DIR=../shared/datasets python bench/disentanglement.py [--dci-codes 2000]
"""

from __future__ import annotations

import argparse

from common import ROOT, timed

from aelab.data.registry import load_dataset  # noqa: E402
from aelab.explore import (
    disentangle,  # noqa: E402
    encoding,
)
from aelab.store.checkpoints import load_checkpoint  # noqa: E402

MODELS = ("shapes_vae", "shapes_beta_vae")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dci-codes", type=int, default=2000, help="test images DCI is fitted on (it is slow)")
    args = parser.parse_args()
    test = load_dataset("shapes", "test")
    print(f"shapes test split: {len(test)} images, factors {', '.join(test.factor_names)}")
    for name in MODELS:
        ckpt = load_checkpoint(ROOT / "checkpoints" / f"{name}.safetensors")
        mu = encoding.encode_all(ckpt.model, test.images).mu
        found, seconds = timed(lambda: disentangle.mig(mu, test.factors))
        follows = disentangle.dimension_factors(found.normalised)
        dci, dci_seconds = timed(lambda: disentangle.dci(mu[: args.dci_codes], test.factors[: args.dci_codes]))
        print(
            f"{name} (beta {ckpt.model.config.beta:g}, {ckpt.meta.get('epochs', '?')} epochs): "
            f"MIG {found.score:.3f} ({seconds:.1f} s); per factor "
            + ", ".join(f"{f} {g:.3f}" for f, g in zip(test.factor_names, found.gaps))
            + f"; DCI disentanglement {dci.disentanglement:.3f}, completeness {dci.completeness:.3f}, "
            f"informativeness {dci.informativeness:.3f} ({dci_seconds:.0f} s, {min(args.dci_codes, len(mu))} codes)"
        )
        print(
            "  each dimension follows: "
            + " ".join(f"{d}:{test.factor_names[k]}({share:.2f})" for d, (k, share) in enumerate(follows))
        )


if __name__ == "__main__":
    main()
