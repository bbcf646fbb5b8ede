"""A model's codes of a dataset split (kept on disk too), and what each code dimension carries."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

from aelab.explore import encoding
from aelab.explore.disentangle import mig, top_factors
from aelab.store import cache
from aelab.ui.caches.datasets import disk_name, labels, load_data
from aelab.ui.caches.key import ModelData
from aelab.ui.caches.models import model


def _disk_key(key: ModelData) -> str:
    return cache.cache_key(key.digest, disk_name(key), key.split, len(labels(*key.data)[0]))


@st.cache_resource(show_spinner="Encoding the dataset…", max_entries=8)
def codes(key: ModelData) -> encoding.Codes:
    """A split's codes, one copy shared by every session and rerun (a map click reads 200,000 of them), so read-only."""
    found = encoding.cached_codes(_disk_key(key), lambda: encoding.encode_all(model(key), load_data(*key.data).images))
    for array in (found.mu, found.logvar):
        if array is not None:
            array.flags.writeable = False
    return found


def encoded(key: ModelData) -> bool:
    """Whether this split's codes are in the disk cache: `codes` then reads them, encoding nothing."""
    return encoding.stored_codes(_disk_key(key))


def encode(key: ModelData, progress: Callable[[float], None]) -> None:
    """Encode a split into the disk cache, saying how far it is with `progress(fraction)` after each batch: a
    large split's codes (a training split, a folder streamed from its files: images read batch by batch)."""
    images = load_data(*key.data).images
    encoding.cached_codes(_disk_key(key), lambda: encoding.encode_all(model(key), images, progress=progress))


@st.cache_data(show_spinner=False, max_entries=8)
def dim_stats(key: ModelData) -> encoding.DimensionStats:
    return encoding.dimension_stats(codes(key))


@st.cache_data(show_spinner="Measuring which factors each dimension follows…", max_entries=8)
def dimension_factors(key: ModelData) -> list[list[tuple[str, float]]] | None:
    """Per code dimension, the two known generating factors it carries most of, with each one's share of that
    factor's entropy (disentangle.top_factors of MIG's information); None where the data has no factors."""
    data = load_data(*key.data)
    if data.factors is None:
        return None
    found = mig(codes(key).mu, np.asarray(data.factors))
    return [[(data.factor_names[k], share) for k, share in row] for row in top_factors(found.normalised)]
