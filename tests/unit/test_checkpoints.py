import json
import pickle
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from aelab.models.autoencoders import build_model
from aelab.models.config import ModelConfig
from aelab.store.checkpoints import CheckpointError, list_checkpoints, load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]


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
    return json.loads(path.read_bytes()[8 : 8 + n])


def _rewrite(path, tensors, meta):
    save_file(tensors, str(path), metadata={"aelab": json.dumps(meta)})


def test_version_1_checkpoints_without_the_activation_field_load_as_the_relu_models_they_are(tmp_path):
    torch.manual_seed(0)
    model = build_model(ModelConfig.for_model("vae", activation="relu")).eval()
    path = tmp_path / "old.safetensors"
    save_checkpoint(path, model)
    meta = json.loads(_header(path)["__metadata__"]["aelab"])
    assert meta["version"] == 3 and meta["model"]["activation"] == "relu"  # today's files always say
    for key in ("activation", "channels", "side"):
        del meta["model"][key]
    _rewrite(path, {k: v.contiguous() for k, v in model.state_dict().items()}, meta | {"version": 1})
    ckpt = load_checkpoint(path)
    assert ckpt.model.config.activation == "relu" and ckpt.meta["version"] == 3
    _rewrite(path, {k: v.contiguous() for k, v in model.state_dict().items()}, meta | {"version": 4})
    with pytest.raises(CheckpointError, match="format version 4 is not supported"):
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
    from aelab.store.checkpoints import is_variational

    path, _ = saved
    assert is_variational(path)
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    assert not is_variational(tmp_path / "junk.safetensors")


# --- headers that ask for too much: refused from the header and the file's shapes alone ---------

SMALL = ModelConfig.for_model("vae", latent_dim=8, widths=[32, 32]).to_dict()
HOSTILE = {  # case: (the header's model description, what the refusal says)
    "widths of 200,000": (SMALL | {"widths": [200_000, 200_000]}, "each width must be a whole number from 1 to 16,384"),
    "latent_dim of 10**9": (SMALL | {"latent_dim": 10**9}, "latent_dim must be a whole number from 1 to 4,096"),
    "hidden of 10**12": (
        SMALL | {"name": "conv_vae", "widths": [32, 64, 128], "hidden": 10**12},
        "hidden must be a whole number from 0 to 16,384",
    ),
    "a hundred thousand layers": (SMALL | {"widths": [32] * 100_000}, "widths must be a list of 1 to 16 layer sizes"),
    "unknown field": (SMALL | {"depth": 10**9}, r"Unknown model config fields: \['depth'\]"),
    "negative latent_dim": (SMALL | {"latent_dim": -8}, "latent_dim must be a whole number from 1"),
    "negative width": (SMALL | {"widths": [-32, 32]}, "each width must be a whole number from 1"),
    "negative hidden": (SMALL | {"name": "conv_ae", "widths": [32, 64, 128], "hidden": -1}, "hidden must be"),
    "negative beta": (SMALL | {"beta": -1}, "beta must be a finite number >= 0"),
    "NaN beta": (SMALL | {"beta": float("nan")}, "beta must be a finite number >= 0"),
    "latent_dim as text": (SMALL | {"latent_dim": "8"}, "latent_dim must be a whole number"),
    "fractional latent_dim": (SMALL | {"latent_dim": 8.5}, "latent_dim must be a whole number"),
    "boolean latent_dim": (SMALL | {"latent_dim": True}, "latent_dim must be a whole number"),
    "widths as text": (SMALL | {"widths": "32"}, "widths must be a list"),
    "fractional width": (SMALL | {"widths": [32.0, 32]}, "each width must be a whole number"),
    "model name a list": (SMALL | {"name": ["vae"]}, "Unknown model"),
    "activation a dict": (SMALL | {"activation": {"relu": 1}}, "Unknown activation"),
    "model a string": ("vae", "a model config is a JSON object of fields, not 'vae'"),
    "within the limits, not the file's shapes": (
        SMALL | {"widths": [16384, 16384], "latent_dim": 4096},
        r"shapes do not match vae: encoder\.1\.0\.weight \(32, 784\) != "
        r"\(16384, 784\)",
    ),
}


def _hostile_file(folder, case):
    """The small VAE's real tensors under a header describing `case`'s model."""
    model = build_model(ModelConfig.from_dict(SMALL))
    path = folder / f"{len(list(folder.iterdir()))}.safetensors"
    _rewrite(path, dict(model.state_dict()), {"format": "aelab-checkpoint", "version": 1, "model": HOSTILE[case][0]})
    return path


def _huge_tensor_header(folder):
    """A 16-byte file whose header claims a 160 GB tensor: safetensors refuses it on opening."""
    header = json.dumps(
        {
            "head.weight": {"dtype": "F32", "shape": [200_000, 200_000], "data_offsets": [0, 200_000 * 200_000 * 4]},
            "__metadata__": {"aelab": json.dumps({"format": "aelab-checkpoint", "version": 1, "model": SMALL})},
        }
    ).encode()
    path = folder / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(16))
    return path


@pytest.mark.parametrize("case", HOSTILE)
def test_a_header_asking_for_too_much_is_refused_before_anything_is_built(case, tmp_path):
    path = _hostile_file(tmp_path, case)
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match=HOSTILE[case][1]) as err:
        load_checkpoint(path)
    assert time.perf_counter() - start < 0.5
    assert "\n" not in str(err.value) and len(str(err.value)) < 300


def test_a_header_claiming_tensors_the_file_lacks_is_refused_on_opening(tmp_path):
    path = _huge_tensor_header(tmp_path)
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="not a valid safetensors file .*not fully covered"):
        load_checkpoint(path)
    assert time.perf_counter() - start < 0.5


def test_refusing_hostile_headers_allocates_nothing_large(tmp_path):
    """Peak resident memory of a fresh process (Linux's VmHWM: getrusage's peak would include the
    parent's, which exec carries over), read around loading every hostile file."""
    paths = [_hostile_file(tmp_path, case) for case in HOSTILE] + [_huge_tensor_header(tmp_path)]
    good = tmp_path / "good.safetensors"
    save_checkpoint(good, build_model(ModelConfig.from_dict(SMALL)))
    script = (
        "import re, sys; from pathlib import Path\n"
        "from aelab.store.checkpoints import CheckpointError, load_checkpoint\n"
        "def peak_kib(): return int(re.search(r'VmHWM:\\s+(\\d+)', Path('/proc/self/status').read_text())[1])\n"
        "load_checkpoint(sys.argv[1])  # first use of everything, before the baseline\n"
        "before = peak_kib()\n"
        "for path in sys.argv[2:]:\n"
        "    try:\n"
        "        load_checkpoint(path)\n"
        "    except CheckpointError:\n"
        "        continue\n"
        "    sys.exit(f'{path} loaded')\n"
        "print(before, peak_kib())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(good), *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    before, after = map(int, done.stdout.split())
    assert after - before < 64 * 1024  # KiB; building the in-limits model would take 3 GB
