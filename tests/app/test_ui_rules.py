"""The rules the pages apply, tested without Streamlit: naming, parsing, wording, tables, figures, the job limit."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from aelab import views
from aelab.data.dataset import sample_indices
from aelab.data.registry import FALLBACK_DATASET, dataset_title
from aelab.explore import projections
from aelab.images import render
from aelab.models import noise
from aelab.models.config import ModelConfig
from aelab.training import jobs, runs
from aelab.training.config import EpochLog, Status, TrainConfig
from aelab.ui import charts, map_figure, map_layers, model_card, navigation, text

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_ui_helpers_draws_nothing_and_every_page_script_is_registered():
    ui = ROOT / "aelab" / "ui"
    helpers = sorted(
        ".".join(p.relative_to(ui).with_suffix("").parts)
        for p in [*ui.glob("*.py"), *ui.glob("caches/*.py")]
        if p.stem != "__init__"
    )
    code = "import importlib\n" + "".join(f"importlib.import_module('aelab.ui.{m}')\n" for m in helpers)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # Streamlit warns about a missing ScriptRunContext whenever a command draws outside a running app
    assert "ScriptRunContext" not in done.stderr and not done.stdout
    scripts = {p.relative_to(ROOT).as_posix() for p in (ROOT / "aelab" / "ui" / "pages").glob("*.py")}
    assert scripts == {page.script for page in navigation.PAGES} and navigation.DEFAULT in navigation.PAGES


def test_run_names_describe_the_run_and_bad_names_say_why(settings, tmp_path):
    def cfg(model: str, latent: int, epochs: int, beta: float | None = None, **train) -> TrainConfig:
        return TrainConfig(model=ModelConfig.for_model(model, latent_dim=latent, beta=beta), epochs=epochs, **train)

    assert runs.default_name(cfg("vae", 20, 20, 4.0, noise="gaussian"), "mnist") == "vae-mnist-z20-b4-gaussian0.3-20ep"
    assert runs.default_name(cfg("conv_ae", 32, 5), "my digits!") == "conv_ae-my-digits-z32-5ep"
    assert runs.default_name(cfg("vae", 8, 1, 1.0), "***", tag="a1b2") == "vae-data-z8-1ep-a1b2"
    with settings(checkpoints_dir=tmp_path):
        (tmp_path / "vae.safetensors").write_bytes(b"")
        assert "ships with aelab" in runs.name_problem("vae")
        assert "path separators" in runs.name_problem("../x") and "path separators" in runs.name_problem("a b")
        assert "resume states" in runs.name_problem("mine.resume")
        assert runs.name_problem("vae-2") is None and runs.name_problem("x" * 81) is not None
        with settings(runs_dir=tmp_path / "runs"):
            assert runs.run_path("mine") == tmp_path / "runs" / "mine.safetensors"
            assert runs.label_for(tmp_path / "vae.safetensors") == "vae"
            assert runs.label_for(runs.run_path("mine")) == "mine (yours)"


def test_the_run_is_named_from_the_settings_trained_unless_the_person_typed_a_name():
    earlier = {"vae-mnist-z20-10ep": None, "vae-mnist-z8-10ep": None}
    # the browser may send back a stale suggestion after the settings changed: the file still says z8-30ep
    assert runs.chosen_name("vae-mnist-z20-10ep", "vae-mnist-z8-30ep", earlier) == "vae-mnist-z8-30ep"
    assert runs.chosen_name("  ", "vae-mnist-z8-30ep", earlier) == "vae-mnist-z8-30ep"
    assert runs.chosen_name(" my-run ", "vae-mnist-z8-30ep", earlier) == "my-run"


def test_the_model_a_role_starts_on_follows_the_metadata():
    options = {"plain": "/a.safetensors", "cleaner": "/b.safetensors"}
    metas = {"/a.safetensors": {"train": {"noise": None}}, "/b.safetensors": {"train": {"noise": "mask"}}}
    assert runs.default_for_role(options, metas, "denoising_conv_ae", True) == "cleaner"
    assert runs.default_for_role(options, metas, "conv_ae", False) == "plain"
    assert runs.default_for_role(options, metas, "plain", True) == "plain"  # the wanted one when it is there
    assert runs.default_for_role({"x": "/x"}, {}, "conv_ae", True) == "x"


def test_typed_indices_are_parsed_or_refused_with_a_sentence():
    assert text.parse_indices(" 3, 17 42;0 ", 100) == [3, 17, 42, 0]
    for typed, says in (
        ("", "at least one"),
        ("5, x", "whole numbers"),
        ("-1", "whole numbers"),
        ("7 99999", "outside the test set"),
        (", ".join(["1"] * 13), "At most 12"),
    ):
        with pytest.raises(ValueError, match=says):
            text.parse_indices(typed, 100)


def test_words_the_pages_show():
    assert text.epochs_text(11.34) == "11.34 epochs (stopped in epoch 12)" and text.epochs_text(12) == "12 epochs"
    assert text.epochs_text(1.0) == "1 epoch" and text.epochs_text(0.5) == "0.50 epochs (stopped in epoch 1)"
    assert text.load_progress("indexing", 1200, 1150) == (0.0, "Looking for images: 1,200 files seen, 1,150 found")
    assert text.load_progress("reading", 300, 1200) == (0.25, "Reading images: 300 of 1,200")
    assert text.load_progress("reading", 0, 0)[0] == 1.0
    assert text.dropped_uploads(["a_1.png"], 100, 32.0) == (
        r"Dropped the oldest upload (a\_1.png): a session keeps "
        "at most 100 images, 32 MB."
    )
    assert "(a, b, c and 2 more)" in text.dropped_uploads(list("abcde"), 100, 32.0)
    assert text.unread_uploads(1, 100) == "Only the newest 100 files here are read: 1 older one was not."
    assert text.duration(42.4) == "42 s" and text.duration(185) == "3 min 05 s"
    assert text.markdown_safe("my_*photo*[1].png") == r"my\_\*photo\*\[1\].png"
    assert text.dataset_option("mnist") == "MNIST" and dataset_title("/data/my folder") == "my folder"
    assert text.dataset_option(FALLBACK_DATASET) == "scikit-learn digits (offline)"
    assert noise.denoising_note(None) == noise.denoising_note({"noise": None}) == "not trained to denoise"
    assert noise.denoising_note({"noise": "salt_pepper", "noise_level": 0.1}) == (
        "trained to remove Salt-and-pepper noise at level 0.1"
    )


def test_the_model_card_and_compare_table_read_the_metadata():
    meta = {
        "dataset": "mnist",
        "epochs": 2.28,
        "status": "stopped",
        "best_epoch": 2,
        "train": {"batch_size": 64, "lr": 0.003, "noise": "gaussian", "noise_level": 0.3, "kl_warmup_epochs": 2},
        "metrics": {"nelbo": 101.234, "recon": 80.0, "active_units": 12, "kl": 21.2},
    }
    facts = model_card.card_facts(meta)
    assert facts == {
        "trained on": "mnist",
        "trained for": "2.28 epochs (stopped in epoch 3)",
        "denoising": "trained to remove Gaussian noise at level 0.3",
        "ended": "stopped",
        "KL warm-up": "2 epochs",
        "batch · lr": "64 · 0.003",
        "test −ELBO (nats)": "101.2",
        "test recon (nats)": "80.0",
        "active units": "12",
    }
    assert model_card.card_facts(meta, "mnist") == facts  # shown on the dataset it learnt: nothing to add
    shown_elsewhere = model_card.card_facts(meta, FALLBACK_DATASET)
    assert shown_elsewhere["trained on"] == "mnist, shown on scikit-learn digits"
    assert model_card.card_facts(meta, "fashion_mnist")["trained on"] == "mnist, shown on Fashion-MNIST"
    assert model_card.card_facts({}, "mnist")["trained on"] == "?"
    assert "ended" not in model_card.card_facts(meta | {"status": "early_stopped"})
    assert "ended" not in model_card.card_facts(meta | {"status": "from elsewhere"})  # a foreign header never breaks it
    assert model_card.model_title(meta | {"model": ModelConfig.for_model("vae", beta=4.0).to_dict()}) == (
        "MLP VAE, 20-d latent, beta 4"
    )
    assert model_card.model_title(meta).startswith("An unreadable model description (a model config is a JSON object")
    rows = model_card.metric_rows(ModelConfig.for_model("vae"), meta, 1234567, 0.0123456)
    assert rows["parameters"] == "1,234,567" and rows["recorded test KL (nats)"] == "21.20"
    assert rows["recorded test recon (BCE, nats)"] == "80.00"
    assert rows["recorded recon from noisy input (nats)"] == "—"
    assert rows["measured test MSE per pixel"] == "0.01235" and rows["epochs (best)"] == "2.28 (2)"
    assert model_card.metric_rows(ModelConfig.for_model("vae"), {}, 1, 0.0)["epochs (best)"] == "not recorded"
    elsewhere = model_card.metric_rows(ModelConfig.for_model("vae"), {"imported": {"weights": "w"}}, 1, 0.0)
    assert elsewhere["epochs (best)"] == "not recorded (trained elsewhere)"
    assert rows["recorded test −log p(x), IWAE (nats)"] == "—" and "test −log p(x) (nats)" not in facts
    iwae = {"nll": 104.6012, "stderr": 0.9101, "k": 5000, "images": 1000}
    scored = meta | {"metrics": meta["metrics"] | {"iwae": iwae}}
    assert model_card.card_facts(scored)["test −log p(x) (nats)"] == "104.6 ± 0.9 (IWAE, k=5,000, 1,000 images)"
    assert (
        model_card.metric_rows(ModelConfig.for_model("vae"), scored, 1, 0.0)["recorded test −log p(x), IWAE (nats)"]
        == "104.6 ± 0.9 (IWAE, k=5,000, 1,000 images)"
    )
    assert rows[f"recorded {model_card.MIG_TITLE}"] == "—" and model_card.MIG_TITLE not in facts  # no factors known
    disentangled = meta | {"metrics": meta["metrics"] | {"mig": 0.31249}}
    assert model_card.card_facts(disentangled)[model_card.MIG_TITLE] == "0.312"
    assert (
        model_card.metric_rows(ModelConfig.for_model("vae"), disentangled, 1, 0.0)[f"recorded {model_card.MIG_TITLE}"]
        == "0.312"
    )
    for odd in ({"nll": "a lot", "stderr": 1.0, "k": 5, "images": 3}, {"nll": 1.0}, [1, 2], None):
        assert "test −log p(x) (nats)" not in model_card.card_facts(meta | {"metrics": {"iwae": odd}})


def test_statuses_are_one_enum_with_words_and_stored_as_plain_strings():
    assert Status("early_stopped") is Status.EARLY_STOPPED and Status.EARLY_STOPPED == "early_stopped"
    assert [s for s in Status if s.completed] == [Status.FINISHED, Status.EARLY_STOPPED]
    assert Status.TIME_BUDGET.label == "Time budget reached"
    assert jobs.JobState(jobs.JobStatus.ERROR).label == jobs.ERROR_LABEL
    assert jobs.JobState(Status.DIVERGED).finished and not jobs.JobState(jobs.JobStatus.RUNNING).finished


def test_the_job_limit_counts_a_pages_own_training():
    """The one-class experiment trains on a page's thread: it takes a place under MAX_RUNNING too."""
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with jobs.slot():
            entered.set()
            release.wait(10)

    holders = [threading.Thread(target=hold) for _ in range(jobs.MAX_RUNNING)]
    for t in holders:
        t.start()
        assert entered.wait(10)
        entered.clear()
    try:
        with pytest.raises(jobs.JobRefused, match="already training"):
            with jobs.slot():
                pass
    finally:
        release.set()
        for t in holders:
            t.join(10)
    with jobs.slot():  # the places are free again
        assert jobs._trainings() == 1


def test_sampled_rows_are_distinct_sorted_and_repeatable():
    rows = sample_indices(100, 10, seed=3)
    assert len(set(rows)) == 10 and list(rows) == sorted(rows)
    np.testing.assert_array_equal(rows, sample_indices(100, 10, seed=3))
    np.testing.assert_array_equal(sample_indices(5, 10, seed=0), np.arange(5))


def test_uploads_with_one_name_keep_both_pictures():
    a, b = np.zeros((28, 28), np.float32), np.ones((28, 28), np.float32)
    kept = {"seven.png": a}
    assert render.unique_name("seven.png", a, kept) == "seven.png"  # the same picture again
    kept[render.unique_name("seven.png", b, kept)] = b
    assert list(kept) == ["seven.png", "seven.png (2)"]
    assert render.unique_name("seven.png", np.full((28, 28), 0.5, np.float32), kept) == "seven.png (3)"


def test_codes_csv_has_a_row_per_image_and_the_maps_coordinates():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(50, 3)).astype(np.float32)
    projection = projections.pca(mu)
    rows = list(csv.reader(io.StringIO(projections.codes_csv(mu, np.arange(50) % 10, projection).decode())))
    assert rows[0] == ["index", "label", "z_0", "z_1", "z_2", "pca_x", "pca_y"] and len(rows) == 51
    table = np.array(rows[1:], dtype=float)
    np.testing.assert_array_equal(table[:, 0], np.arange(50))
    np.testing.assert_allclose(table[:, 2:5], mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(table[:, 5:], projection.coords, rtol=1e-5, atol=1e-6)


def test_figures_build_from_arrays_alone():
    coords = np.random.default_rng(1).normal(size=(30, 2)).astype(np.float32)
    labels = np.r_[np.arange(29) % 3, -1]
    fig = map_figure.latent_map(coords, np.arange(30), labels, 3, "PCA", clickable_cells=True)
    *points, cells = fig.data
    assert [t.legendgroup for t in fig.data] == [map_figure.MAP_POINTS] * 4 + [map_figure.MAP_CELLS]
    assert len(cells.x) == map_figure.GRID**2
    # one trace a class, each in its colour, the unlabelled last; every point once, its row in its customdata
    assert [t.marker.color for t in points] == map_figure.class_colours(3)
    assert sorted(int(row) for t in points for row in t.customdata[:, 0]) == list(range(30))
    for trace in points:
        rows = trace.customdata[:, 0].astype(int)
        np.testing.assert_array_equal(np.c_[trace.x, trace.y], coords[rows])
        assert set(trace.customdata[:, 1]) == {labels[rows[0]]}
    map_layers.add_uploads(fig, coords[:2], ["a.png", "b.png"])
    map_layers.add_path(fig, coords[:4])
    assert [t.name for t in fig.data[5:]] == ["your uploads", "interpolation A→B"]
    assert list(fig.data[-1].text) == ["A", "", "", "B"] and all(t.showlegend for t in fig.data[5:])
    assert all(t.hoverinfo == "skip" for t in fig.data[5:])  # a click lands on the map beneath them
    log = EpochLog(1, {"loss": 2.0, "recon": 1.5, "kl": 0.5}, {"loss": 2.1, "recon": 1.6, "kl": 0.5}, 1.0, 10.0)
    assert len(charts.loss_curves((log,), variational=True).data) == 6
    for n in (2, 3, 30):  # whole epochs only on the axis, however many
        logs = tuple(replace(log, epoch=e) for e in range(1, n + 1))
        axes = [
            a
            for name, a in charts.loss_curves(logs, variational=True).layout.to_plotly_json().items()
            if name.startswith("xaxis")
        ]
        assert len(axes) == 3 and all(a["tick0"] == 1 and isinstance(a["dtick"], int) for a in axes)
        assert n / axes[0]["dtick"] <= charts.EPOCH_TICKS
    uploads = {"mine.png": 0.5, "mine (2).png": 0.5001, "other.png": 0.52}  # lines nearly on top of each other
    hist = charts.error_histogram(np.linspace(0, 1, 50), "MNIST test", 0.9, 0.8, 99.0, uploads)
    assert not hist.layout.annotations  # no label on the plot, so none can cover another
    lines = hist.data[1:]
    assert [t.name for t in lines] == ["threshold 0.9", "99th percentile 0.8", *uploads]
    assert [t.x[0] for t in lines] == [0.9, 0.8, *uploads.values()] and all(t.showlegend is not False for t in lines)
    assert len({t.line.color for t in lines}) == len(lines)  # told apart in the legend by colour


def test_the_map_marks_a_click_the_way_plotly_does_and_keeps_every_other_point_as_it_was():
    coords = np.random.default_rng(2).normal(size=(40, 2)).astype(np.float32)
    plain = map_figure.latent_map(coords, np.arange(40), np.arange(40) % 4, 4, "PCA", clickable_cells=True)
    assert [t.selectedpoints for t in plain.data] == [None] * 5
    *points, cells = plain.data
    for trace in points:
        assert trace.unselected.marker.opacity == trace.marker.opacity == map_figure.POINT_OPACITY
        assert trace.selected.marker.size > trace.marker.size and trace.selected.marker.color == map_figure.MARK
    assert cells.marker.symbol == "x" and cells.selected.marker.color == map_figure.MARK  # the decoded spot: an X
    assert cells.marker.color == map_figure.CELL_COLOUR and cells.unselected.marker.opacity == 1.0  # cells stay unseen

    spot = (float(cells.x[100]), float(cells.y[100]))
    marked = map_figure.latent_map(
        coords,
        np.arange(40),
        np.arange(40) % 4,
        4,
        "PCA",
        clickable_cells=True,
        selected=7,
        decoded=(spot[0] + 1e-3, spot[1] - 1e-3),
    )
    # row 7 is class 3's second point; the cell nearest the spot is marked
    assert [None if t.selectedpoints is None else tuple(t.selectedpoints) for t in marked.data] == [
        None,
        None,
        None,
        (1,),
        (100,),
    ]
    tsne = map_figure.latent_map(
        coords, np.arange(40), np.arange(40) % 4, 4, "t-SNE", clickable_cells=False, selected=3, decoded=spot
    )
    assert len(tsne.data) == 4 and tuple(tsne.data[3].selectedpoints) == (0,)

    region = map_figure.latent_map(
        coords, np.arange(40), np.arange(40) % 4, 4, "t-SNE", clickable_cells=False, region=np.array([0, 1, 5])
    )
    assert [tuple(t.selectedpoints) for t in region.data] == [(0,), (0, 1), (), ()]  # rows 0; 1 and 5; none
    assert all(t.unselected.marker.color == map_figure.OUTSIDE for t in region.data)


def test_the_map_is_sent_as_plotly_would_have_validated_it():
    """The map's figure is built unvalidated: what it sends must be what Plotly's validation makes of it."""
    rng = np.random.default_rng(3)
    coords = rng.normal(size=(60, 2)).astype(np.float32)
    labels = np.r_[np.arange(59) % 4, -1]
    for options in (
        dict(method="PCA", clickable_cells=True),
        dict(method="PCA", clickable_cells=True, selected=5, decoded=(0.1, -0.2), tool="lasso"),
        dict(method="t-SNE", clickable_cells=False, region=np.array([0, 3, 7])),
        dict(method="UMAP", clickable_cells=False, values=rng.normal(size=60), values_title="trust", selected=2),
    ):
        fig = map_figure.latent_map(coords, np.arange(60), labels, 4, **options)
        map_layers.add_uploads(fig, coords[:2], ["a.png", "b.png"])  # what the page adds later stays validated
        map_layers.add_thumbnails(fig, rng.random((3, 28, 28)), coords[:3], 0.1)
        fig.update_layout(height=map_figure.SMALL_MAP_PX)
        sent = json.loads(pio.to_json(fig))
        assert sent == json.loads(pio.to_json(go.Figure(fig.to_dict()))), options


def test_a_selection_on_the_map_names_dataset_rows_by_their_customdata():
    points = [
        {"legendgroup": map_figure.MAP_POINTS, "customdata": [12, 3], "curve_number": 3, "point_index": 0},
        {"legendgroup": map_figure.MAP_CELLS, "x": 0.5, "y": 0.1, "curve_number": 10, "point_index": 7},
        {"legendgroup": map_figure.MAP_POINTS, "customdata": {"0": 40, "1": 1}, "curve_number": 0, "point_index": 9},
        {"curve_number": 11, "point_index": 0, "x": 1.0, "y": 1.0},
    ]  # an upload's star
    assert map_figure.map_rows(points) == [12, 40]


def test_the_colour_key_wraps_between_entries_never_inside_one():
    legend = map_figure.class_legend(["9 - nine", "T-shirt/top", "<b>*bold*</b>"])
    entry = "<span style='white-space:nowrap'><span style='color:{}'>●</span>&nbsp;{}</span>"
    names = ["9 - nine", "T-shirt/top", "&lt;b&gt;*bold*&lt;/b&gt;"]  # a folder's class name shown as typed
    assert legend == " ".join(entry.format(colour, name) for colour, name in zip(map_figure.PALETTE, names))


def test_a_projection_says_where_a_dataset_row_is_on_it():
    projection = projections.Projection("tsne", np.zeros((3, 2), np.float32), np.array([2, 5, 9]))
    assert [projection.position(row) for row in (2, 5, 9, 4)] == [0, 1, 2, None]


def test_a_link_keeps_only_what_this_server_can_show():
    models, datasets = ["vae", "conv_vae"], ["mnist", "digits"]
    assert views.read({"model": "conv_vae", "data": "digits", "point": "42"}, models, datasets) == views.View(
        "conv_vae", "digits", 42
    )
    for point in ["-1", "4.5", "1e3", "", "1234567890", "٣"]:  # not a plain whole number (an Arabic-Indic 3 too)
        assert views.read({"point": point}, models, datasets).point is None, point
    assert views.read({"model": "vae.safetensors", "data": "../mnist"}, models, datasets) == views.View()
    assert views.query("vae", "mnist") == {"model": "vae", "data": "mnist"}
    assert views.query("vae", "mnist", 0) == {"model": "vae", "data": "mnist", "point": "0"}


def test_direction_labels_say_how_strong_each_direction_is():
    assert text.direction_label("PC 1", 0.2345, "share of variance") == "PC 1 · 23.4% of variance"
    assert text.direction_label("SeFa 2", 0.05, "share of eigenvalues") == "SeFa 2 · 5.0% of eigenvalues"
    assert text.direction_label("1 → 7", 3.214, "distance") == "1 → 7 · distance 3.21"
    assert set(text.DIRECTION_KINDS) == {text.PCA, text.SEFA, text.ATTRIBUTE, text.SELECTIONS}


def test_the_quality_line_gives_both_figures_and_the_sample_count():
    assert text.quality_text(0.912, 0.8765, 1000) == "Density **0.91**, coverage **0.88** (1,000 samples)."


def test_progress_says_the_time_measured_here_and_what_is_left_at_that_pace():
    from aelab.ui import progress

    now = [100.0]
    clock = progress.Clock(lambda: now[0])
    now[0] = 112.0
    assert clock.text("Computing t-SNE", 0.4) == "Computing t-SNE… 40% · 12 s so far, about 18 s left at this pace"
    assert clock.text("Training", 0.01) == "Training… 1% · 12 s so far"  # too early to say what is left
    now[0] = 100.0 + 125
    assert clock.text("Training", 1.0) == "Training… 100% · 2 min 05 s so far"
    first = progress.projection_text("UMAP", 0.0, clock, compiling=True)
    assert first == "Compiling UMAP (first use in this process), then finding neighbours… 2 min 05 s so far"
    assert progress.projection_text("UMAP", 0.0, clock, compiling=False) == "Finding neighbours… 2 min 05 s so far"
    assert progress.projection_text("UMAP", 0.5, clock, compiling=True).startswith("Computing UMAP… 50% · ")
