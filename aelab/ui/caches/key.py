"""The one key of everything computed from a model and a dataset."""

from __future__ import annotations

from dataclasses import dataclass

Shape = tuple[int, int, int]


@dataclass(frozen=True)
class ModelData:
    """A checkpoint on a dataset split: what codes, maps and scores are computed from (`Context.key`).

    Frozen, so it is hashable and two equal keys are one: Streamlit's caches hash a dataclass by its
    fields, and a new digest (the same path retrained) is a new key. A map click or selection keeps
    the key it was made with, so another model or dataset drops it.
    """

    path: str
    digest: str  # content hash of the checkpoint: the model's identity, whatever its path
    dataset: str
    split: str
    shape: Shape | None = None  # the model's (C, H, W) when the dataset is fitted to it (registry.fitted), else None
    whole: bool = False  # every file of a streamed split (the latent map's codes), not the part held (sources.held)

    @property
    def data(self) -> tuple[str, str, Shape | None, bool]:
        """The arguments of caches.datasets' functions: the split as this model sees it."""
        return self.dataset, self.split, self.shape, self.whole
