"""Server-side costs of the app's interactions on this machine, measured, not assumed.

- the PCA latent map of the 10k MNIST test set, encoding included (cold: no cache);
- a box or lasso of 1,000 points on the map to its gallery drawn (`--lasso` alone);
- the t-SNE and UMAP maps: computed once, then read back from the disk cache (`--umap`: UMAP alone);
- a traversal slider change (an AppTest rerun of the Traverse page, all caches warm);
- the first page: a new Python process running app.py once, as `streamlit run` does for its
  first visitor (everything but Streamlit still to import), with an empty disk cache and again
  with a filled one.

    AELAB_DATA_DIR=../shared/datasets python bench/app_speed.py [--first-page | --lasso | --umap]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

from common import ROOT, timed  # the checkout importable, a private disk cache

from aelab.data.registry import load_dataset  # noqa: E402
from aelab.explore import encoding, projections
from aelab.settings import SHIPPED_DIR  # noqa: E402
from aelab.store import cache  # noqa: E402
from aelab.store.checkpoints import load_checkpoint  # noqa: E402
from aelab.ui import navigation

FIRST_PAGE = """
import time
from streamlit.testing.v1 import AppTest
start = time.perf_counter()  # Streamlit imported, as in a server that is ready: the first visitor's wait starts
at = AppTest.from_file({app!r}, default_timeout=300).run()
assert not at.exception and at.get("plotly_chart"), "the latent map was not drawn"
print(time.perf_counter() - start)
"""


def first_page_seconds(cache: str) -> float:
    """Seconds a fresh interpreter with Streamlit imported takes to run the first page with `cache`."""
    code = FIRST_PAGE.format(app=str(ROOT / "app.py"))
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "AELAB_CACHE_DIR": cache},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out.split()[-1])


def first_page() -> None:
    folder = tempfile.mkdtemp(prefix="aelab-first-")
    cold = first_page_seconds(folder)
    warm = [first_page_seconds(folder) for _ in range(3)]
    print(
        f"First page (new process with Streamlit imported: run app.py to the latent map): "
        f"empty disk cache {cold:.1f} s; "
        f"filled cache median {statistics.median(warm):.1f} s (max {max(warm):.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--first-page", action="store_true", help="measure the first page only")
    parser.add_argument("--lasso", action="store_true", help="measure the map's box or lasso only")
    parser.add_argument("--umap", action="store_true", help="measure UMAP on 10,000 codes only")
    args = parser.parse_args()
    if args.first_page:
        return first_page()
    if args.lasso:
        return lasso()
    if args.umap:
        return maps()
    test = load_dataset("mnist", "test", download=False)
    print(f"MNIST test: {len(test)} images; cache {os.environ['AELAB_CACHE_DIR']}")
    print("PCA map, encoding included (cold):")
    for name in ("vae", "conv_vae", "conv_ae"):
        model = load_checkpoint(SHIPPED_DIR / f"{name}.safetensors").model
        codes, t_enc = timed(lambda: encoding.encode_all(model, test.images))
        _, t_pca = timed(lambda: projections.pca(codes.mu))
        print(f"  {name:9} encode {t_enc:.2f} s + PCA {t_pca:.2f} s = {t_enc + t_pca:.2f} s")

    model = load_checkpoint(SHIPPED_DIR / "vae.safetensors").model
    mu = encoding.encode_all(model, test.images).mu
    for n_points in (5000, 10_000):
        key = cache.cache_key("bench", n_points)
        _, t_first = timed(lambda: projections.cached_projection(key, "tsne", lambda: projections.tsne(mu, n_points)))
        _, t_again = timed(lambda: projections.load_projection(key, "tsne"))
        print(
            f"t-SNE of {n_points} codes: computed in {t_first:.1f} s, "
            f"read from the disk cache in {t_again * 1000:.0f} ms"
        )
    maps(mu)

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    at.switch_page(navigation.TRAVERSE.script).run()
    slider = at.slider[0]
    low, high = slider.min, slider.max
    times = []
    for i in range(20):
        value = low + (high - low) * (i % 10) / 9
        _, t = timed(lambda: at.slider(key=slider.key).set_value(value).run())
        times.append(t * 1000)
    print(
        f"Traverse slider change (full AppTest rerun of the page): median {statistics.median(times):.0f} ms, "
        f"max {max(times):.0f} ms over {len(times)} changes"
    )
    lasso()
    first_page()


def maps(mu=None) -> None:
    """UMAP of the MLP VAE's 10,000 codes: computed once (the first call in a process also imports and compiles
    umap-learn's numba code), then read back from the disk cache."""
    if mu is None:
        model = load_checkpoint(SHIPPED_DIR / "vae.safetensors").model
        mu = encoding.encode_all(model, load_dataset("mnist", "test", download=False).images).mu
    key = cache.cache_key("bench", "umap", len(mu))
    _, t_first = timed(lambda: projections.cached_projection(key, "umap", lambda: projections.umap(mu, len(mu))))
    _, t_again = timed(lambda: projections.load_projection(key, "umap"))
    print(
        f"UMAP of {len(mu)} codes: computed in {t_first:.1f} s (import and compilation included), read from the "
        f"disk cache in {t_again * 1000:.0f} ms"
    )


def lasso(points: int = 1000, repeats: int = 5) -> None:
    """A box or lasso of `points` on the latent map to its gallery drawn: the page's full run (server side)."""
    from streamlit.testing.v1 import AppTest

    from aelab.store.checkpoints import file_digest
    from aelab.ui import keys
    from aelab.ui.caches.key import ModelData

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    path = at.session_state[keys.MODEL_PATH]
    context = ModelData(path, file_digest(path), at.session_state[keys.DATASET], "test")
    times = []
    for i in range(repeats):
        rows = tuple(range(i, 10_000, 10_000 // points))[:points]  # another region each time: nothing cached
        at.session_state[keys.MAP_REGION] = keys.MapRegion(context, rows)
        _, t = timed(at.run)
        assert at.subheader[0].value == f"{points} images selected", "the gallery was not drawn"
        times.append(t * 1000)
    print(
        f"Lasso of {points} points to its gallery drawn (full AppTest run of the map page, model loaded): "
        f"median {statistics.median(times[1:]):.0f} ms, max {max(times[1:]):.0f} ms over {repeats - 1} regions "
        f"(the first, {times[0]:.0f} ms, loads the model)"
    )


if __name__ == "__main__":
    main()
