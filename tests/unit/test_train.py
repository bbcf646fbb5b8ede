"""Real (small) training runs on the real MNIST files. A run long enough to learn a skill (denoising):
tests/system/test_training_runs.py."""

import math

import pytest
import torch

from aelab.models.config import ModelConfig
from aelab.store.checkpoints import load_checkpoint
from aelab.training.config import TrainConfig
from aelab.training.trainer import learning_rate, resume_path, train


def _cfg(name="vae", **kw):
    return TrainConfig(model=ModelConfig.for_model(name), dataset="mnist", batch_size=64, patience=0, **kw)


def test_training_lowers_validation_loss_and_saves_a_loadable_model(small, tmp_path):
    epochs = []
    result = train(_cfg(epochs=3), small, tmp_path / "m.safetensors", on_epoch=lambda log, m: epochs.append(log))
    assert result.status == "finished" and [e.epoch for e in epochs] == [1, 2, 3]
    assert epochs[-1].val["loss"] < epochs[0].val["loss"] - 10
    assert set(epochs[0].val) == {"loss", "recon", "kl"}
    ckpt = load_checkpoint(result.path)
    assert ckpt.meta["epochs"] == 3 and ckpt.meta["status"] == "finished"
    assert ckpt.meta["train"]["model"]["name"] == "vae" and len(ckpt.meta["history"]) == 3


def test_same_seed_gives_identical_weights(small, tmp_path):
    a = train(_cfg(epochs=1), small.subset(range(300)), tmp_path / "a.safetensors")
    b = train(_cfg(epochs=1), small.subset(range(300)), tmp_path / "b.safetensors")
    wa, wb = load_checkpoint(a.path).model.state_dict(), load_checkpoint(b.path).model.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_retraces_an_uninterrupted_run(small, tmp_path):
    data = small.subset(range(600))
    full = train(_cfg(epochs=3), data, tmp_path / "full.safetensors")
    calls = {"n": 0}

    def stop_in_third_epoch():
        calls["n"] += 1
        return calls["n"] == 2 * 9 + 3  # 9 batches per epoch: stop early in epoch 3

    out = tmp_path / "cut.safetensors"
    cut = train(_cfg(epochs=3), data, out, should_stop=stop_in_third_epoch)
    assert cut.status == "stopped" and resume_path(out).exists()
    resumed = train(_cfg(epochs=3), data, out, resume=True)
    assert resumed.status == "finished" and len(resumed.history) == 3
    assert math.isclose(resumed.best_val, full.best_val, rel_tol=1e-6)
    wf, wr = load_checkpoint(full.path).model.state_dict(), load_checkpoint(out).model.state_dict()
    assert all(torch.allclose(wf[k], wr[k]) for k in wf)


def test_stop_flag_in_the_first_epoch_still_yields_a_loadable_checkpoint(small, tmp_path):
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] >= 5

    result = train(_cfg("conv_ae", epochs=5), small, tmp_path / "s.safetensors", should_stop=stop)
    assert result.status == "stopped" and result.best_epoch == 1
    meta = load_checkpoint(result.path).meta
    assert meta["status"] == "stopped"
    n_train = len(small) - round(0.1 * len(small))  # what the validation split leaves
    assert result.history[0].fraction == pytest.approx(5 * 64 / n_train)  # five batches of 64 ran, not the epoch
    assert meta["epochs"] == round(result.history[0].fraction, 2) < 1


def test_diverging_run_stops_with_a_message_and_keeps_the_last_good_model(small, tmp_path):
    out = tmp_path / "d.safetensors"
    good = train(_cfg(epochs=1), small, out)
    before = load_checkpoint(out).model.state_dict()

    result = train(_cfg(epochs=3, lr=1e9), small, tmp_path / "fresh.safetensors")
    assert result.status == "diverged" and "Try a lower learning rate" in result.message
    assert result.path is None or all(
        torch.isfinite(v).all() for v in load_checkpoint(result.path).model.state_dict().values()
    )
    after = load_checkpoint(good.path).model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_kl_warmup_ramps_beta(small, tmp_path):
    cfg = _cfg(epochs=1, kl_warmup_epochs=4.0)
    result = train(cfg, small.subset(range(300)), tmp_path / "w.safetensors")
    first = result.history[0]
    # with beta ramping from 0 the training loss sits far below recon + KL at full weight
    assert first.train["loss"] < first.train["recon"] + 0.5 * first.train["kl"]


def test_random_shift_moves_each_image_by_whole_pixels_within_the_limit(small):
    from aelab.data.dataset import random_shift

    images = small.images[:200]  # MNIST digits keep a 4-pixel empty border, so nothing is cut off
    moved = random_shift(images, 2, torch.Generator().manual_seed(0))
    assert moved.shape == images.shape and torch.allclose(moved.sum((1, 2, 3)), images.sum((1, 2, 3)))
    assert set(moved.unique().tolist()) <= set(images.unique().tolist())  # no resampling blur
    offsets = set()
    for before, after in zip(images[:, 0], moved[:, 0]):
        match = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(torch.roll(before, (dy, dx), (0, 1)), after)
        ]
        assert match, "each image is its original moved by at most 2 pixels"
        offsets.add(match[0])
    assert len(offsets) > 10  # each image draws its own offset


def test_shift_augmentation_is_seeded_and_ends_on_clean_images(small, tmp_path):
    cfg = _cfg(epochs=4, shift=2, shift_until=0.5)
    a = train(cfg, small, tmp_path / "a.safetensors")
    b = train(cfg, small, tmp_path / "b.safetensors")
    plain = train(_cfg(epochs=4), small, tmp_path / "plain.safetensors")
    weights = [load_checkpoint(r.path).model.state_dict() for r in (a, b, plain)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])
    # shifted epochs are harder to fit; the clean ones that follow drop the training loss back
    shifted, clean = a.history[1].train["loss"], a.history[2].train["loss"]
    assert clean < shifted and plain.history[1].train["loss"] < shifted
    with pytest.raises(ValueError, match="shift"):
        _cfg(epochs=1, shift=9)


def test_cosine_schedule_decays_the_learning_rate_to_zero_over_the_run():
    cfg = _cfg(epochs=10, lr=4e-3)
    assert [learning_rate(cfg, p) for p in (0.0, 0.5, 1.0, 1.5)] == pytest.approx([4e-3, 2e-3, 0.0, 0.0], abs=1e-12)
    assert learning_rate(_cfg(lr=4e-3, lr_schedule="constant"), 0.9) == 4e-3
    with pytest.raises(ValueError, match="Unknown lr_schedule"):
        _cfg(lr_schedule="step")
