"""The one key of everything computed from a model and a dataset."""

from __future__ import annotations

from dataclasses import dataclass


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
