"""The app's pages, in one table: app.py registers them, links and page switches name them from here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    script: str  # relative to the app's root, as st.Page, st.page_link and st.switch_page take it
    title: str
    icon: str
    group: str


def _page(name: str, title: str, icon: str, group: str) -> PageSpec:
    return PageSpec(f"aelab/ui/pages/{name}.py", title, f":material/{icon}:", group)


START = _page("start", "Start here", "flag", "Start")
MAP = _page("map", "Latent map", "scatter_plot", "Explore")
TRAVERSE = _page("traverse", "Traverse", "tune", "Explore")
DIRECTIONS = _page("directions", "Directions", "explore", "Explore")
INTERPOLATE = _page("interpolate", "Interpolate", "linear_scale", "Explore")
SAMPLE = _page("sample", "Sample", "casino", "Explore")
RECONSTRUCT = _page("reconstruct", "Reconstruct", "upload", "Explore")
DRAW = _page("draw", "Draw", "draw", "Explore")
TRAIN = _page("train", "Train", "model_training", "Work")
DENOISE = _page("denoise", "Denoise", "auto_fix_high", "Work")
ANOMALY = _page("anomaly", "Anomaly", "troubleshoot", "Work")
COMPARE = _page("compare", "Compare", "compare", "Work")

PAGES = (START, MAP, TRAVERSE, DIRECTIONS, INTERPOLATE, SAMPLE, RECONSTRUCT, DRAW, TRAIN, DENOISE, ANOMALY, COMPARE)
DEFAULT = MAP
