"""Every expensive result the pages share, computed once per process, by topic.

models    checkpoints: the listing, each file's digest and header, the loaded models
datasets  a split's images, pictures and labels
codes     a model's codes of a split, and what each dimension carries
maps      the latent map: PCA, t-SNE and UMAP, placing new codes, colourings, the decoded plane, the CSV
walks     pictures along lines of latent space: traversal grids, directions, their walks and GIFs
samples   priors, mixtures, samples and their quality against the data
scores    reconstruction errors and reconstructions, anomaly scores, denoising PSNR, one-class results

Loaded models and datasets are st.cache_resource (one shared copy, never mutated); results are
st.cache_data. Whatever is computed from a model and a dataset takes a `ModelData` first: pages call
`caches.<topic>.<function>(ctx.key, ...)`. Codes and projections also live in the disk cache
(aelab.store.cache), so neither a rerun nor a restart re-encodes the dataset.

A topic is imported when a page first asks for it, so a page pays only for the topics it uses: a map
drawn from the disk cache imports no model code, nor torch.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from aelab.ui.caches.key import ModelData

if TYPE_CHECKING:
    from aelab.ui.caches import codes, datasets, maps, models, samples, scores, walks

__all__ = ["ModelData", "codes", "datasets", "maps", "models", "samples", "scores", "walks"]


def __getattr__(name: str) -> ModuleType:
    """`caches.<topic>`: its module, imported on first use (PEP 562)."""
    if name not in __all__[1:]:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return importlib.import_module(f"{__name__}.{name}")
