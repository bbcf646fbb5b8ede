import json
import pickle
import struct

import pytest
import torch
from safetensors.torch import save_file

from aelab.checkpoints import CheckpointError, list_checkpoints, load_checkpoint, save_checkpoint
from aelab.models import ModelConfig, build_model


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = build_model(ModelConfig.for_model("conv_vae", latent_dim=8))
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, model, {"dataset": "mnist", "metrics": {"nelbo": 99.5}})
    return path, model


def test_round_trip_restores_identical_outputs_and_metadata(saved):
    path, model = saved
    ckpt = load_checkpoint(path)
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(ckpt.model.reconstruct(x), model.eval().reconstruct(x))
    assert ckpt.meta["dataset"] == "mnist" and ckpt.meta["metrics"] == {"nelbo": 99.5}
    assert ckpt.meta["model"]["latent_dim"] == 8 and "torch" in ckpt.meta["versions"]
    assert len(ckpt.digest) == 16
    assert not list(path.parent.glob("*.tmp"))  # the atomic write left nothing behind


def _header(path):
    n = struct.unpack("<Q", path.read_bytes()[:8])[0]
    return json.loads(path.read_bytes()[8:8 + n])


def _rewrite(path, tensors, meta):
    save_file(tensors, str(path), metadata={"aelab": json.dumps(meta)})


def test_version_1_checkpoints_without_the_activation_field_load_as_the_relu_models_they_are(tmp_path):
    torch.manual_seed(0)
    model = build_model(ModelConfig.for_model("vae", activation="relu")).eval()
    path = tmp_path / "old.safetensors"
    save_checkpoint(path, model)
    meta = json.loads(_header(path)["__metadata__"]["aelab"])
    assert meta["version"] == 2 and meta["model"]["activation"] == "relu"  # today's files always say
    del meta["model"]["activation"]
    _rewrite(path, {k: v.contiguous() for k, v in model.state_dict().items()}, meta | {"version": 1})
    ckpt = load_checkpoint(path)
    assert ckpt.model.config.activation == "relu" and ckpt.meta["version"] == 2
    _rewrite(path, {k: v.contiguous() for k, v in model.state_dict().items()}, meta | {"version": 3})
    with pytest.raises(CheckpointError, match="format version 3 is not supported"):
        load_checkpoint(path)
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(ckpt.model.reconstruct(x), model.reconstruct(x))


def test_truncated_file_is_refused(saved):
    path, _ = saved
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_checkpoint(path)


def test_flipped_header_bytes_are_refused(saved):
    path, _ = saved
    data = bytearray(path.read_bytes())
    for i in range(10, 60):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_wrong_shapes_and_missing_tensors_are_refused(saved, tmp_path):
    path, model = saved
    meta = json.loads(_header(path)["__metadata__"]["aelab"])
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    tensors["head.weight"] = torch.zeros(9, 2048)
    _rewrite(path, tensors, meta)
    with pytest.raises(CheckpointError, match="shapes do not match"):
        load_checkpoint(path)
    del tensors["head.weight"]
    _rewrite(path, tensors, meta)
    with pytest.raises(CheckpointError, match="missing tensors"):
        load_checkpoint(path)


def test_unknown_model_and_foreign_files_are_refused(saved, tmp_path):
    path, model = saved
    meta = json.loads(_header(path)["__metadata__"]["aelab"])
    _rewrite(path, dict(model.state_dict()), meta | {"model": {"name": "gan"}})
    with pytest.raises(CheckpointError, match="model description is invalid"):
        load_checkpoint(path)
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(CheckpointError, match="no aelab metadata"):
        load_checkpoint(plain)


class _Bomb:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_a_pickle_posing_as_a_checkpoint_is_refused_and_never_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps(_Bomb()))
    torch.save({"state": torch.zeros(2)}, tmp_path / "torch.safetensors")
    for path in (evil, tmp_path / "torch.safetensors"):
        with pytest.raises(CheckpointError):
            load_checkpoint(path)
    assert not (tmp_path / "PWNED").exists()


def test_listing_shows_good_and_broken_files(saved, tmp_path):
    path, _ = saved
    (tmp_path / "broken.safetensors").write_bytes(b"not a checkpoint")
    (tmp_path / "model.resume.safetensors").write_bytes(b"resume states are not models")
    listing = {item.path.name: item for item in list_checkpoints(tmp_path)}
    assert set(listing) == {"model.safetensors", "broken.safetensors"}
    assert listing["model.safetensors"].meta["dataset"] == "mnist"
    assert listing["broken.safetensors"].error and listing["broken.safetensors"].meta is None


def test_model_kind_is_read_from_the_header_alone(saved, tmp_path):
    from aelab.checkpoints import is_variational

    path, _ = saved
    assert is_variational(path)
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    assert not is_variational(tmp_path / "junk.safetensors")
