"""The MLP VAE's encoder in NumPy, so that the app's very first page needs no torch.

Importing torch takes two seconds. The first page shows the default model's (the MLP VAE's)
map of the test set; with nothing in the disk cache yet, its codes are computed here from the
checkpoint's tensors (safetensors reads them without torch) and the split's pixels on disk.
The layers are those of `models.mlp_encoder` and the two heads of `VariationalAutoencoder`;
tests hold the codes to torch's within 1e-5 for every activation.
"""

from __future__ import annotations

import numpy as np
from safetensors import safe_open
from threadpoolctl import threadpool_limits

from aelab.model_config import DIGIT_SHAPE, LOGVAR_MAX, LOGVAR_MIN, ModelConfig

ENCODER = "encoder.1."  # models.mlp_encoder: Flatten, then the Linear/activation stack
ACTIVATIONS = {
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "relu": lambda x: np.maximum(x, 0.0),
    "elu": lambda x: np.where(x > 0.0, x, np.expm1(np.minimum(x, 0.0))),
}


def can_encode(config: ModelConfig) -> bool:
    """The MLP VAE taking MNIST's 1x28x28 images: the pixels read without torch are the MNIST family's."""
    return config.name == "vae" and config.image_shape == DIGIT_SHAPE


def encode(path: str, config: ModelConfig, images: np.ndarray, batch_size: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and clamped log-variances (float32) of `images` (N, ...) in [0, 1].

    On one BLAS thread: the first page encodes while the browser loads it on the same machine, and
    on this project's two cores two BLAS threads took 0.45 s of CPU for the MNIST test set where one
    took 0.1 s (0.9 s against 0.3 s of wall time with both cores busy).
    """
    with safe_open(path, "np") as f:
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    layers = sorted({int(name[len(ENCODER):].split(".")[0]) for name in tensors if name.startswith(ENCODER)})
    act = ACTIVATIONS[config.activation]
    mus, logvars = [], []
    with threadpool_limits(1, user_api="blas"):
        for start in range(0, len(images), batch_size):
            h = np.asarray(images[start:start + batch_size], dtype=np.float32).reshape(-1, tensors[f"{ENCODER}0.weight"].shape[1])
            for i in layers:  # every Linear is followed by the activation, the last one too
                h = act(h @ tensors[f"{ENCODER}{i}.weight"].T + tensors[f"{ENCODER}{i}.bias"])
            mus.append(h @ tensors["head.weight"].T + tensors["head.bias"])
            logvars.append(np.clip(h @ tensors["logvar_head.weight"].T + tensors["logvar_head.bias"], LOGVAR_MIN,
                                   LOGVAR_MAX))
    return np.concatenate(mus).astype(np.float32), np.concatenate(logvars).astype(np.float32)
