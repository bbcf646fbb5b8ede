"""Corruptions for denoising: training pairs (noisy input, clean target) and the Denoise page. Their names
and a checkpoint's note are told without importing torch (a training config, the model card)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

NOISE_TITLES = {"gaussian": "Gaussian", "salt_pepper": "Salt-and-pepper", "mask": "Masking"}
NOISE_KINDS = tuple(NOISE_TITLES)
LEVEL_HELP = {
    "gaussian": "Standard deviation of the noise added to every pixel (pixels lie in [0, 1]).",
    "salt_pepper": "Fraction of pixels set to black or white at random.",
    "mask": "Fraction of pixels blanked (set to black).",
}


def add_noise(x: torch.Tensor, kind: str, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Corrupt images (B, C, H, W) in [0, 1]; `level` is the std (gaussian, drawn per value) or the fraction of
    pixels hit (salt-and-pepper, masking: a pixel's channels together, so a colour pixel turns black or white)."""
    import torch

    if kind not in NOISE_KINDS:
        raise ValueError(f"Unknown noise {kind!r}; known: {', '.join(NOISE_KINDS)}")
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"Noise level must be in [0, 1], not {level}")
    if kind == "gaussian":
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        return (x + level * noise).clamp(0.0, 1.0)
    pixels = (x.shape[0], 1, *x.shape[2:])  # one draw per pixel; for one channel exactly as before colour
    hit = torch.rand(pixels, generator=generator, device=x.device) < level
    if kind == "mask":
        return x.masked_fill(hit, 0.0)
    salt = torch.rand(pixels, generator=generator, device=x.device) < 0.5
    return torch.where(hit, salt.to(x.dtype), x)


def psnr(clean: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image (peak 1.0), shape (B,)."""
    mse = (clean - other).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return -10.0 * mse.log10()


def denoising_note(train: dict | None) -> str:
    """What a checkpoint's training config (its metadata's "train") says about denoising, as one phrase."""
    train = train or {}
    if not train.get("noise"):
        return "not trained to denoise"
    kind = NOISE_TITLES.get(train["noise"], train["noise"])
    return f"trained to remove {kind} noise at level {train.get('noise_level'):g}"
