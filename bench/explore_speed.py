"""Server-side costs of the Explore-deeper computations (#15) on this machine, measured, not assumed.

- a direction slider moved: one new decode of base + t * direction (target <= 50 ms), per starter model;
- the Directions page's slider moved: an AppTest rerun of the whole page (all caches warm; in the browser only
  the slider fragment reruns, so this bounds it from above) and the fragment's own work (the decode and the
  three pictures' PNGs), target <= 50 ms;
- the neighbours of a clicked point among the 10k test codes (target <= 100 ms): aelab.explore.neighbours.nearest
  beside scikit-learn's NearestNeighbors, index built per query or once;
- the per-point trust of the PCA map for all 10k points;
- a Gaussian mixture (10 components) fitted to 10k codes, and density/coverage of 1,000 samples;
- the IWAE log-likelihood bound with k = 5,000 on 1,000 test images, MLP VAE starter (the report's figure).

    AELAB_DATA_DIR=../shared/datasets python bench/explore_speed.py [--iwae-images N] [--directions-page-only]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import ROOT, timed  # the checkout importable, a private disk cache

from aelab.data.dataset import sample_indices  # noqa: E402
from aelab.data.registry import load_dataset
from aelab.explore import directions, encoding, likelihood, neighbours, priors, projections  # noqa: E402
from aelab.images import render
from aelab.settings import SHIPPED_DIR  # noqa: E402
from aelab.store.checkpoints import load_checkpoint  # noqa: E402


def median_ms(fn, repeats: int) -> tuple[float, float]:
    """Median and max milliseconds of `repeats` calls, after one warm-up call."""
    fn()
    times = [timed(fn)[1] * 1000 for _ in range(repeats)]
    return statistics.median(times), max(times)


def directions_page(moves: int = 20) -> None:
    """Server time of a Directions slider move, per starter model: the page's rerun and the fragment's work."""
    from streamlit.testing.v1 import AppTest

    from aelab.ui import navigation

    print(f"Directions page slider moved (PC 1), median / max over {moves} moves, all caches warm:")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    for name in ("vae", "conv_ae"):
        at.sidebar.selectbox(key="model_label").set_value(name).run()
        at.switch_page(navigation.DIRECTIONS.script).run()
        slider = at.slider(key="dir_t_0")
        values = iter(np.tile(np.linspace(slider.min, slider.max, 10), moves))
        med, most = median_ms(lambda: at.slider(key="dir_t_0").set_value(float(next(values))).run(), moves)
        assert not at.exception, at.exception
        print(f"  {name:9} whole page rerun (AppTest): {med:.0f} ms (max {most:.0f} ms)")

        model = load_checkpoint(SHIPPED_DIR / f"{name}.safetensors").model
        mu = encoding.encode_all(model, load_dataset("mnist", "test", download=False).images[:2000]).mu
        found = directions.principal_directions(mu, 5)
        base, steps = mu[0], np.zeros(5, np.float32)
        pictures = [np.zeros((28, 28), np.float32)] * 2

        def fragment() -> None:  # what the fragment computes: the code, its decode, three PNG data URIs
            steps[0] = next(values)
            decoded = encoding.decode(model, (base + steps @ found.vectors)[None])[0]
            for img in [*pictures, decoded]:
                render.data_uri(render.to_png(render.enlarge(img, 4)))

        med, most = median_ms(fragment, moves)
        print(f"  {name:9} the fragment's work (decode + 3 PNGs): {med:.1f} ms (max {most:.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iwae-images", type=int, default=likelihood.DEFAULT_IMAGES)
    parser.add_argument("--iwae-k", type=int, default=likelihood.DEFAULT_K)
    parser.add_argument("--directions-page-only", action="store_true", help="measure the Directions page alone")
    args = parser.parse_args()
    if args.directions_page_only:
        directions_page()
        return
    test = load_dataset("mnist", "test", download=False)
    print(
        f"MNIST test: {len(test)} images; torch {torch.__version__}, {torch.get_num_threads()} intra-op threads, "
        f"{os.cpu_count()} CPUs"
    )

    print("Direction slider moved (one decode of base + t * SeFa 1), median / max over 50 moves:")
    models = {
        name: load_checkpoint(SHIPPED_DIR / f"{name}.safetensors").model for name in ("vae", "conv_vae", "conv_ae")
    }
    codes = {}
    for name, model in models.items():
        codes[name] = encoding.encode_all(model, test.images)
        found = directions.sefa_directions(model, 1, codes[name].mu)
        base, values = codes[name].mu[0], directions.walk_values(float(found.std[0]), 50)
        moves = iter(np.tile(values, 2))
        med, most = median_ms(lambda: directions.walk(model, base, found.vectors[0], np.array([next(moves)])), 50)
        print(f"  {name:9} {med:.1f} ms (max {most:.1f} ms)")

    mu = codes["vae"].mu
    print(
        f"Neighbours (k={neighbours.DEFAULT_K}) of a point among {len(mu)} codes of {mu.shape[1]}-d, median / max "
        "over 50 points:"
    )
    rows = iter(range(10_000))
    med, most = median_ms(lambda: neighbours.nearest(mu, next(rows)), 50)
    print(f"  aelab.explore.neighbours.nearest (NumPy argpartition): {med:.2f} ms (max {most:.2f} ms)")
    from sklearn.neighbors import NearestNeighbors

    med, most = median_ms(lambda: NearestNeighbors(n_neighbors=11).fit(mu).kneighbors(mu[next(rows)][None]), 50)
    print(f"  scikit-learn NearestNeighbors, fitted per query: {med:.2f} ms (max {most:.2f} ms)")
    index = NearestNeighbors(n_neighbors=11).fit(mu)
    med, most = median_ms(lambda: index.kneighbors(mu[next(rows)][None]), 50)
    print(f"  scikit-learn NearestNeighbors, query of a fitted index: {med:.2f} ms (max {most:.2f} ms)")

    projection = projections.pca(mu)
    trust, seconds = timed(lambda: neighbours.trust(mu, projection.coords))
    print(
        f"Trust of the PCA map, {len(mu)} points, k={neighbours.DEFAULT_K}: {seconds:.2f} s "
        f"(mean {trust.mean():.3f}, median {np.median(trust):.2f})"
    )

    ae_codes = codes["conv_ae"]
    mixture, seconds = timed(lambda: priors.fit_mixture(ae_codes, priors.DEFAULT_COMPONENTS))
    print(
        f"Gaussian mixture ({priors.DEFAULT_COMPONENTS} components, full covariance) fitted to "
        f"{len(ae_codes.mu)} conv_ae codes: {seconds:.2f} s"
    )
    vae_mixture, seconds = timed(lambda: priors.fit_mixture(codes["vae"], priors.DEFAULT_COMPONENTS))
    print(f"  the same for the MLP VAE's aggregate posterior: {seconds:.2f} s")
    n = priors.QUALITY_SAMPLES
    real = test.images[:n, 0].numpy()
    samples = encoding.decode(models["conv_ae"], priors.sample_mixture(mixture, n, seed=1))
    quality, seconds = timed(lambda: priors.density_coverage(real, samples))
    print(
        f"Density and coverage of {n} conv_ae mixture samples against {n} test images: {seconds:.2f} s "
        f"(density {quality.density:.2f}, coverage {quality.coverage:.3f})"
    )
    for name in ("conv_ae", "vae"):
        model = models[name]
        single = priors.sample(priors.prior_for(model, codes[name]), n, seed=1)
        fitted = mixture if name == "conv_ae" else vae_mixture
        one, many = (
            priors.density_coverage(real, encoding.decode(model, z))
            for z in (single, priors.sample_mixture(fitted, n, seed=1))
        )
        print(
            f"  {name}: coverage {one.coverage:.3f} from {'one Gaussian' if name == 'conv_ae' else 'N(0, I)'}, "
            f"{many.coverage:.3f} from the mixture"
        )

    directions_page()

    rows = sample_indices(len(test), args.iwae_images, seed=0)
    done = {"last": 0.0}

    def progress(decodes: int, total: int) -> None:
        now = time.perf_counter()
        if now - done["last"] > 30:
            done["last"] = now
            print(f"  ... {decodes / total:.0%}", flush=True)

    result, seconds = timed(
        lambda: likelihood.iwae_nll(models["vae"], test.images[rows], args.iwae_k, progress=progress)
    )
    print(
        f"IWAE bound, MLP VAE, k={args.iwae_k} on {len(rows)} test images: {seconds:.1f} s "
        f"({len(rows) * args.iwae_k / seconds:,.0f} decodes/s): -log p(x) {result.nll:.2f} ± {result.stderr:.2f} "
        "nats"
    )


if __name__ == "__main__":
    main()
