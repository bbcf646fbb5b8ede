"""Shareable views: a page's model, dataset and selected point as its link's query string.

The page is the link's path (Streamlit's navigation gives each page its own), so
`http://host:8501/traverse?model=conv_vae&data=mnist&point=7` opens Traverse on the ConvVAE with
test image 7 selected. A link is untrusted: a part this server cannot show is left out.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

MODEL, DATASET, POINT = "model", "data", "point"
MAX_POINT_DIGITS = 9


@dataclass(frozen=True)
class View:
    model: str | None = None
    dataset: str | None = None
    point: int | None = None


def read(params: Mapping[str, str], models: Collection[str], datasets: Collection[str]) -> View:
    """What a link asks for, each part kept only when this server has it: a model or dataset it does not
    list, or a point that is not a whole number, is left out and the page opens as it would without it."""
    model, dataset, point = (str(params.get(key, "")) for key in (MODEL, DATASET, POINT))
    return View(
        model if model in models else None,
        dataset if dataset in datasets else None,
        int(point) if point.isascii() and point.isdigit() and len(point) <= MAX_POINT_DIGITS else None,
    )


def query(model: str, dataset: str, point: int | None = None) -> dict[str, str]:
    """The query string's parts for a view (no point: none selected)."""
    return {MODEL: model, DATASET: dataset} | ({} if point is None else {POINT: str(point)})
