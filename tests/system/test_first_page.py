"""The first page as a new server process meets it: with the disk cache filled, the latent map is drawn from
the cached codes' projection and the checkpoint's header, and torch is imported only once something runs the
model (a click, another page), or after the page is drawn, ahead of the first click. Each run is a fresh
interpreter, as `streamlit run` starts one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRST_PAGE = f"""
import sys
import time
from streamlit.testing.v1 import AppTest

at = AppTest.from_file({str(ROOT / "app.py")!r}, default_timeout=300).run()
assert not at.exception, at.exception
chart = at.get("plotly_chart")
assert chart, "no latent map"
drawn = "torch" in sys.modules
deadline = time.monotonic() + 300  # then, while the person looks at the map, the click's modules are imported
while "aelab.ui.map_detail" not in sys.modules and time.monotonic() < deadline:
    time.sleep(0.1)
print(len(at.caption), drawn, "aelab.ui.map_detail" in sys.modules)
"""


def _first_page() -> tuple[int, bool, bool]:
    """The number of captions the first page drew, whether its process had imported torch when it was drawn, and
    whether it imported the detail panel's modules (torch) afterwards, without a click."""
    out = subprocess.run(
        [sys.executable, "-c", FIRST_PAGE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    ).stdout.split()
    return int(out[-3]), out[-2] == "True", out[-1] == "True"


def test_a_warm_first_page_draws_the_same_map_without_importing_torch_then_imports_it(settings, tmp_path):
    with settings(cache_dir=tmp_path / "cache", runs_dir=tmp_path / "runs"):
        cold_captions, cold_torch, _ = _first_page()  # encodes the test set: runs the model
        warm_captions, warm_torch, warmed = _first_page()
    assert cold_torch, "the first start ever encodes the dataset with the model"
    assert not warm_torch, "with codes and projection on disk, the first page should not import torch"
    assert warmed, "after the page, a first click's modules (torch) should be imported ahead of the click"
    assert warm_captions == cold_captions
