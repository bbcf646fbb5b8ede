"""Test-set evaluation: reconstruction loss, negative ELBO, KL per dimension, active units."""

from __future__ import annotations

import torch

from aelab.models import Autoencoder, kl_per_dim, reconstruction_loss

ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al.: Var_x[E_q(z|x) z_d] above this counts as active


@torch.no_grad()
def evaluate(model: Autoencoder, images: torch.Tensor, batch_size: int = 1000, seed: int = 0) -> dict:
    """Metrics per image, averaged over `images`; the ELBO uses one seeded posterior sample."""
    model.eval()
    torch.manual_seed(seed)
    kind = model.config.recon
    recon_sum, nelbo_sum, kl_sum = 0.0, 0.0, torch.zeros(model.latent_dim)
    codes = []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        if model.is_variational:
            mu, logvar = model.posterior(x)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            kl = kl_per_dim(mu, logvar)
            nelbo_sum += float((reconstruction_loss(model.decode(z), x, kind) + kl.sum(1)).sum())
            kl_sum += kl.sum(0)
        else:
            mu = model.encode(x)
        recon_sum += float(reconstruction_loss(model.decode(mu), x, kind).sum())
        codes.append(mu)
    n = len(images)
    variance = torch.cat(codes).var(0)
    metrics = {"images": n, "recon": recon_sum / n, "recon_kind": kind,
               "latent_variance": [round(float(v), 5) for v in variance],
               "active_units": int((variance > ACTIVE_UNIT_THRESHOLD).sum())}
    if model.is_variational:
        metrics |= {"nelbo": nelbo_sum / n, "kl": float(kl_sum.sum()) / n,
                    "kl_per_dim": [round(float(v) / n, 5) for v in kl_sum]}
    return metrics
