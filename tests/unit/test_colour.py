"""Images of any size and colour: models built for the shape, colour kept from files to pictures, checkpoints
that say their shape, and every 1x28x28 model exactly as before."""

import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from folders import write_celeba
from PIL import Image
from safetensors.torch import save_file
from torchvision import datasets

from aelab.data import shapes
from aelab.data.dataset import DatasetUnavailable, random_shift
from aelab.data.folders import load_folder
from aelab.data.registry import (
    CELEBA_IMAGES,
    CELEBA_PARTITION,
    CIFAR_FILES,
    CIFAR_FOLDER,
    available_datasets,
    dataset_shape,
    load_dataset,
)
from aelab.explore import anomaly, encoding, walks
from aelab.images import inputs, reading, recipe, render
from aelab.models.autoencoders import build_model, count_parameters
from aelab.models.config import ModelConfig, conv_widths
from aelab.models.noise import add_noise
from aelab.store.checkpoints import CheckpointError, load_checkpoint, read_metadata, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]
COLOUR_SHAPES = [(3, 32), (3, 64)]


def _shapes(n: int, side: int, channels: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(shapes.make_shapes(n, seed, side, channels)[0])


# --- the seed's models, exactly as they were --------------------------------------------------------------


def test_the_seed_architectures_at_1x28x28_keep_their_layers_and_parameter_counts():
    counts = {
        name: count_parameters(build_model(ModelConfig.for_model(name))) for name in ("conv_ae", "vae", "conv_vae")
    }
    assert counts == {"conv_ae": 318_369, "vae": 549_688, "conv_vae": 1_251_753}
    model = build_model(ModelConfig.for_model("conv_ae"))
    convs = [m for m in model.encoder if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride, c.padding) for c in convs] == [
        (1, 32, (2, 2), (1, 1)),
        (32, 64, (2, 2), (1, 1)),
        (64, 128, (2, 2), (1, 1)),
    ]
    assert model.head.in_features == 2048
    ups = [m for m in model.decoder if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [u.output_padding for u in ups] == [(0, 0), (1, 1), (1, 1)] and ups[-1].out_channels == 1
    assert conv_widths(28) == conv_widths(32) == (32, 64, 128) and conv_widths(64) == (32, 64, 128, 256)


def test_the_shipped_checkpoints_load_at_their_datasets_shapes():
    """The MNIST starters (format versions 1 and 2, from before colour) as 1x28x28 models; the shapes ones 3x64x64,
    the dsprites ones 1x32x32."""
    shipped = sorted((ROOT / "checkpoints").glob("*.safetensors"))
    assert {p.stem for p in shipped} >= {"vae", "conv_vae", "conv_ae", "shapes_vae", "shapes_beta_vae"}
    for path in shipped:
        ckpt = load_checkpoint(path)
        shape = dataset_shape(ckpt.meta.get("dataset", "mnist"))
        assert ckpt.model.image_shape == shape, path.name
        assert ckpt.model.reconstruct(torch.rand(2, *shape)).shape == (2, *shape)


# --- models of any shape --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["conv_ae", "vae", "conv_vae"])
@pytest.mark.parametrize("channels,side", [(1, 28), (3, 28), (1, 32), *COLOUR_SHAPES])
def test_models_take_and_give_images_of_their_shape(name, channels, side):
    model = build_model(ModelConfig.for_model(name, channels=channels, side=side, latent_dim=6)).eval()
    assert model.image_shape == (channels, side, side)
    x = torch.rand(3, channels, side, side)
    with torch.no_grad():
        assert model.encode(x).shape == (3, 6)
        assert model.decode(torch.zeros(2, 6)).shape == (2, channels, side, side)
        assert model.reconstruct(x).shape == x.shape
    if name != "vae":  # conv models bring every picture down to 4x4
        final = [m for m in model.decoder if isinstance(m, torch.nn.Unflatten)][0].unflattened_size
        assert final[1:] == (4, 4)


@pytest.mark.parametrize("name", ["conv_vae", "vae"])
@pytest.mark.parametrize("channels,side", COLOUR_SHAPES)
def test_colour_models_learn_coloured_shapes(name, channels, side):
    torch.manual_seed(0)
    x = _shapes(32, side)
    model = build_model(ModelConfig.for_model(name, channels=channels, side=side, latent_dim=8))
    model.init_output_bias(x)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(40):
        loss = model.loss(x, generator=gen)["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    # nats per image over C*H*W values (a 3x64x64 picture has 12,288), from the mean image's to well below it
    assert np.mean(losses[-5:]) < 0.7 * losses[0], losses


def test_init_output_bias_starts_each_colour_channel_at_its_own_mean():
    x = _shapes(200, 32)
    model = build_model(ModelConfig.for_model("conv_ae", channels=3, side=32))
    model.init_output_bias(x)
    means = x.mean(dim=(0, 2, 3)).clamp(1e-3, 1 - 1e-3)
    torch.testing.assert_close(model.decoder[-1].bias.sigmoid(), means)


def test_a_config_refuses_shapes_it_cannot_be():
    for bad, match in [
        ({"channels": 2}, "channels must be 1"),
        ({"channels": 3.0}, "channels must be a whole"),
        ({"side": 7}, "side must be a whole number from 8 to 256"),
        ({"side": "64"}, "side must be"),
        ({"side": 10**6}, "side must be"),
    ]:
        with pytest.raises(ValueError, match=match):
            ModelConfig.for_model("conv_vae", **bad)
    config = ModelConfig.for_model("conv_vae", channels=3, side=64)
    assert ModelConfig.from_json(config.to_json()) == config and config.widths == (32, 64, 128, 256)


# --- checkpoints -----------------------------------------------------------------------------------------


def _rewrite(path, tensors, meta):
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata={"aelab": json.dumps(meta)})


def test_checkpoints_keep_the_shape_and_older_headers_load_as_1x28x28(tmp_path):
    torch.manual_seed(0)
    colour = build_model(ModelConfig.for_model("conv_vae", channels=3, side=64, latent_dim=5)).eval()
    save_checkpoint(tmp_path / "colour.safetensors", colour)
    loaded = load_checkpoint(tmp_path / "colour.safetensors").model
    assert loaded.config == colour.config and loaded.image_shape == (3, 64, 64)
    x = _shapes(2, 64)
    torch.testing.assert_close(loaded.reconstruct(x), colour.reconstruct(x))

    gray = build_model(ModelConfig.for_model("vae", latent_dim=4)).eval()
    path = tmp_path / "old.safetensors"
    save_checkpoint(path, gray)
    meta = read_metadata(path)
    for key in ("channels", "side"):
        del meta["model"][key]
    _rewrite(path, gray.state_dict(), meta | {"version": 2})
    old = load_checkpoint(path)
    assert old.model.image_shape == (1, 28, 28) and old.meta["version"] == 3


@pytest.mark.parametrize(
    "claim,match",
    [
        ({"channels": 10**6}, "channels must be"),
        ({"side": 10**6}, "side must be a whole number from 8 to 256"),
        ({"side": 256, "channels": 3}, "tensor shapes do not match"),
    ],
)
def test_a_header_claiming_a_huge_image_is_refused_before_anything_is_built(tmp_path, claim, match):
    small = build_model(ModelConfig.for_model("vae", latent_dim=4, widths=[32]))
    path = tmp_path / "hostile.safetensors"
    _rewrite(
        path, small.state_dict(), {"format": "aelab-checkpoint", "version": 3, "model": small.config.to_dict() | claim}
    )
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match=match) as err:
        load_checkpoint(path)
    assert time.perf_counter() - start < 0.5 and "\n" not in str(err.value)


# --- datasets ---------------------------------------------------------------------------------------------


def test_cifar10_and_celeba_offline_say_in_one_line_which_folder_and_files_they_need(tmp_path):
    for name, folder, files in [
        ("cifar10", CIFAR_FOLDER, CIFAR_FILES["train"]),
        ("celeba", "celeba", (CELEBA_IMAGES, CELEBA_PARTITION)),
    ]:
        with pytest.raises(DatasetUnavailable) as err:
            load_dataset(name, "train", tmp_path, download=False)
        message = str(err.value)
        assert "\n" not in message and str(tmp_path / folder) in message
        assert all(file in message for file in files), message
    assert not available_datasets(tmp_path)["cifar10"]


def test_the_files_named_are_the_ones_torchvision_reads():
    assert datasets.CIFAR10.base_folder == CIFAR_FOLDER
    meta = datasets.CIFAR10.meta["filename"]
    assert CIFAR_FILES["train"] == (*(name for name, _ in datasets.CIFAR10.train_list), meta)
    assert CIFAR_FILES["test"] == (*(name for name, _ in datasets.CIFAR10.test_list), meta)
    assert CELEBA_PARTITION in {name for _, _, name in datasets.CelebA.file_list}
    assert f"{CELEBA_IMAGES}.zip" in {name for _, _, name in datasets.CelebA.file_list}


def test_celeba_in_torchvisions_layout_streams_its_split_cropped_and_resized(tmp_path):
    write_celeba(tmp_path, 6)
    test = load_dataset("celeba", "test", tmp_path, download=False, workers=0)
    train = load_dataset("celeba", "train", tmp_path, download=False, workers=0)
    assert (len(train), len(test)) == (4, 2) and test.shape == (3, 64, 64)
    x = next(test.images.stream([torch.arange(2)]))
    assert x.shape == (2, 3, 64, 64)
    assert float((x - x.mean(dim=(2, 3), keepdim=True)).abs().max()) < 0.05  # only the flat centre was kept


def test_shapes_is_a_dataset_with_its_factors_always_available():
    assert available_datasets()["shapes"]
    test = load_dataset("shapes", "test")
    assert test.shape == (3, 64, 64) and len(test) == 5000 and test.factors.shape == (5000, 6)
    assert test.factor_names == shapes.FACTOR_NAMES and test.classes == list(shapes.SHAPES)
    np.testing.assert_array_equal(test.labels.numpy(), test.factors[:, 0])
    part = test.subset([3, 1])
    np.testing.assert_array_equal(part.factors, test.factors[[3, 1]])
    torch.testing.assert_close(load_dataset("shapes", "test").images[:50], test.images[:50])  # deterministic
    small = load_dataset("shapes", "test", side=32)  # at a model's side: resized, as such models are trained
    assert small.shape == (3, 32, 32) and small.note.startswith("shapes resized from 64 to 32 px")


def test_mnist_at_a_models_side_and_channels_is_padded_and_repeated(mnist_test):
    wide = load_dataset("mnist", "test", side=32, channels=3, download=False)
    assert wide.shape == (3, 32, 32) and len(wide) == len(mnist_test)
    assert wide.note == "MNIST padded from 28 to 32 px, gray repeated to 3 channels, as models of 3x32x32 RGB take it"
    torch.testing.assert_close(wide.images[:5, :, 2:30, 2:30], mnist_test.images[:5].repeat(1, 3, 1, 1))
    assert wide.images[:, :, :2].abs().max() == 0  # the padding is black, as MNIST's background
    big = load_dataset("mnist", "test", side=64, download=False)
    assert big.shape == (1, 64, 64) and big.note.startswith("MNIST resized from 28 to 64 px")


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _mixed_folder(folder: Path) -> Path:
    """Colour shapes as PNGs of several sizes and modes, a 16-bit gray one and a 1x1 pixel."""
    pictures = render.to_pictures(_shapes(12, 64))
    for i, picture in enumerate(pictures):
        rgb = Image.fromarray((picture * 255).round().astype(np.uint8))
        variant = [
            rgb,
            rgb.resize((48, 40)),
            rgb.convert("L"),
            rgb.convert("P"),
            rgb.convert("RGBA"),
            rgb.resize((32, 32)),
        ][i % 6]
        (folder / ("a" if i % 2 else "b")).mkdir(parents=True, exist_ok=True)
        variant.save(folder / ("a" if i % 2 else "b") / f"{i:02d}.png")
    Image.fromarray(np.full((40, 40), 32768, np.uint16)).save(folder / "a" / "sixteen.png")
    Image.new("RGB", (1, 1), (0, 0, 255)).save(folder / "b" / "dot.png")
    return folder


def test_a_folder_of_mixed_sizes_and_modes_becomes_the_chosen_shape_and_says_what_was_converted(tmp_path):
    splits = load_folder(_mixed_folder(tmp_path / "mixed"), side=32, channels=3)
    whole = torch.cat([splits.train.images, splits.test.images])
    assert splits.train.shape == splits.test.shape == (3, 32, 32) and len(whole) == 14
    # everything but the two 32x32 RGB shapes was converted; the 1x1 dot was enlarged
    assert (
        splits.train.note == "12 of 14 images were converted to 3x32x32 RGB (another colour mode or size); "
        "1 of them, smaller than 32x32, was enlarged."
    )
    flat = whole.flatten(2)
    gray_half = (flat.std(2) < 1e-6).all(1) & (flat.mean(2) - 0.5).abs().lt(0.01).all(1)
    assert int(gray_half.sum()) == 1  # the 16-bit PNG's 32768 is mid-gray, not clipped to white
    blue = (flat.std(2) < 1e-6).all(1) & torch.isclose(flat.mean(2), torch.tensor([0.0, 0.0, 1.0])).all(1)
    assert int(blue.sum()) == 1  # the 1x1 pixel, enlarged


def test_a_folder_defaults_to_the_digit_recipe_and_a_gray_size_can_be_picked(tmp_path):
    folder = _mixed_folder(tmp_path / "mixed")
    assert load_folder(folder).train.shape == (1, 28, 28)
    gray = load_folder(folder, side=64, channels=1)
    assert gray.train.shape == (1, 64, 64)


def test_a_sixteen_bit_png_keeps_its_range():
    ramp = (np.linspace(0, 65535, 64)[None, :] * np.ones((64, 1))).astype(np.uint16)
    made = inputs.prepare_bytes(_png(Image.fromarray(ramp)), "ramp.png", inputs.ImageSpec(1, 64, digits=False))
    np.testing.assert_allclose(made.image, ramp / 65535.0, atol=1e-3)


# --- uploads: the one rule ------------------------------------------------------------------------------------


def test_prepare_for_converts_between_gray_and_colour_and_keeps_the_digit_recipe_for_digit_models():
    red_square = Image.new("RGB", (90, 60), (255, 255, 255))
    red_square.paste((220, 30, 30), (30, 15, 60, 45))
    colour = inputs.prepare_for((3, 32, 32), red_square, digits=False)
    assert colour.image.shape == (32, 32, 3) and colour.image[16, 16].tolist() == pytest.approx(
        [220 / 255, 30 / 255, 30 / 255], abs=0.01
    )
    gray_upload = red_square.convert("L")
    as_colour = inputs.prepare_for((3, 64, 64), gray_upload, digits=False).image
    assert as_colour.shape == (64, 64, 3) and np.ptp(as_colour, axis=2).max() == 0.0  # gray in all three channels
    as_gray = inputs.prepare_for((1, 32, 32), red_square, digits=True).image  # not a digit model: plain
    assert as_gray.shape == (32, 32) and as_gray[16, 16] == pytest.approx(
        np.asarray(gray_upload)[30, 45] / 255, abs=0.01
    )
    digit = inputs.prepare_for((1, 28, 28), red_square, digits=True)
    np.testing.assert_array_equal(digit.image, recipe.preprocess(red_square).image)  # MNIST's recipe, as before
    plain = inputs.prepare_for((1, 28, 28), red_square, digits=False).image
    assert plain.shape == (28, 28) and not np.array_equal(plain, digit.image)


class _Viewing(torch.nn.Module):
    """An encoder that calls `.view` on its input, as many published ones do: it needs contiguous batches."""

    def __init__(self):
        super().__init__()
        self.enc, self.dec = torch.nn.Linear(3 * 32 * 32, 4), torch.nn.Linear(4, 3 * 32 * 32)

    def encode(self, x):
        return self.enc(x.view(len(x), -1))

    def decode(self, z):
        return self.dec(z).view(len(z), 3, 32, 32)


def test_colour_pictures_become_contiguous_batches_an_encoder_calling_view_takes():
    from aelab.models.config import OwnModelConfig
    from aelab.models.own import OwnModel

    pictures = render.to_pictures(_shapes(4, 32))
    x = render.to_tensor(pictures, (3, 32, 32))
    assert x.is_contiguous() and x.stride() == (3 * 32 * 32, 32 * 32, 32, 1)
    torch.manual_seed(0)
    model = OwnModel(OwnModelConfig("others:viewing", 4, False, channels=3, side=32), _Viewing())
    codes = encoding.encode(model, pictures)  # uploads and Compare's second model go through to_tensor
    assert codes.shape == (4, 4) and np.isfinite(codes).all()


def test_pictures_and_tensors_convert_both_ways():
    x = _shapes(4, 32)
    pictures = render.to_pictures(x)
    assert pictures.shape == (4, 32, 32, 3)
    torch.testing.assert_close(render.to_tensor(pictures, (3, 32, 32)), x)
    assert render.to_pictures(x[:, :1]).shape == (4, 32, 32)
    with pytest.raises(ValueError, match="expected pictures"):
        render.to_tensor(pictures, (1, 28, 28))
    grid = render.make_grid(pictures, ncol=2)
    assert grid.shape == (2 * 34 + 2, 2 * 34 + 2, 3)
    png = Image.open(io.BytesIO(render.to_png(grid)))
    assert png.mode == "RGB"
    labelled = render.labelled_grid(pictures.reshape(2, 2, 32, 32, 3), ["a", "b"], [["1", "2"], ["3", "4"]])
    assert labelled.ndim == 3 and labelled.shape[2] == 3
    assert Image.open(io.BytesIO(render.to_gif(list(pictures)))).n_frames == 4


# --- downstream: latent, anomaly, noise, shifts ------------------------------------------------------------


def test_latent_and_anomaly_work_on_colour_pictures():
    torch.manual_seed(0)
    model = build_model(ModelConfig.for_model("conv_vae", channels=3, side=64, latent_dim=5)).eval()
    x = _shapes(3, 64)
    codes = encoding.encode(model, render.to_pictures(x))
    assert codes.shape == (3, 5)
    assert encoding.decode(model, codes).shape == (3, 64, 64, 3)
    assert encoding.reconstruct(model, x).shape == (3, 64, 64, 3)
    assert encoding.encode_all(model, x).mu.shape == (3, 5)
    assert anomaly.error_maps(model, x).shape == (3, 64, 64)
    assert anomaly.anomaly_scores(model, x).shape == (3,)
    frames = encoding.decode(model, walks.interpolate(codes[0], codes[1], 5))
    assert walks.distances_from_data(frames, encoding.reconstruct(model, x)).shape == (5,)


def test_noise_hits_a_colour_pixel_in_all_its_channels_and_one_channel_as_before():
    x = _shapes(8, 32)
    masked = add_noise(x, "mask", 0.5, torch.Generator().manual_seed(0))
    blank = (masked == 0).all(1)
    assert ((masked == 0) == blank[:, None]).logical_or(x == 0).all()
    gray = x[:, :1]
    old = gray.masked_fill(torch.rand(gray.shape, generator=torch.Generator().manual_seed(3)) < 0.3, 0.0)
    torch.testing.assert_close(add_noise(gray, "mask", 0.3, torch.Generator().manual_seed(3)), old)


def test_random_shift_moves_every_channel_together():
    x = _shapes(6, 32)
    moved = random_shift(x, 2, torch.Generator().manual_seed(0))
    again = random_shift(x[:, :1], 2, torch.Generator().manual_seed(0))
    torch.testing.assert_close(moved[:, :1], again)
    assert moved.shape == x.shape and not torch.equal(moved, x)


def test_uploads_prepared_for_one_model_fit_another():
    digit = np.zeros((28, 28), np.float32)
    digit[8:20, 12:16] = 1.0
    colour = render.to_pictures(_shapes(1, 64))[0]
    fitted = render.fit_all([digit, colour], (3, 64, 64))
    assert fitted.shape == (2, 64, 64, 3)
    np.testing.assert_array_equal(fitted[1], colour)  # already the model's shape: untouched
    assert np.ptp(fitted[0], axis=2).max() == 0.0 and fitted[0].max() == 1.0  # gray in all three channels
    assert render.fit_all(colour, (1, 28, 28)).shape == (1, 28, 28)  # one RGB picture is one, not three rows
    assert render.fit_all(np.stack([digit, digit]), (1, 28, 28)).shape == (2, 28, 28)


def test_a_known_dataset_fitted_to_a_model_says_how():
    from aelab.data.registry import fitted, fitted_note, load_dataset

    note = fitted_note("mnist", (1, 28, 28), (3, 32, 32))
    assert note == "MNIST padded from 28 to 32 px, gray repeated to 3 channels, as models of 3x32x32 RGB take it"
    assert fitted_note("shapes", (3, 64, 64), (1, 28, 28)) == (
        "shapes resized from 64 to 28 px, made gray, as models of 1x28x28 gray take it"
    )
    data = load_dataset("mnist", "test", download=False, cached=True)
    assert fitted(data, 3, 32).note == note  # what the card and the pages say is what was done


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_odd_and_broken_files_become_colour_pictures_or_one_line():
    spec = inputs.ImageSpec(3, 32, digits=False)
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8))
    good = {
        "cmyk.jpg": _encoded(rgb.convert("CMYK"), "JPEG"),
        "la.png": _encoded(rgb.convert("LA"), "PNG"),
        "int32.tif": _encoded(rgb.convert("I"), "TIFF"),
        "float.tif": _encoded(rgb.convert("F"), "TIFF"),
        "one-bit.png": _encoded(rgb.convert("1"), "PNG"),
        "animated.gif": _encoded(rgb.convert("P"), "GIF"),
    }
    for name, data in good.items():
        picture = inputs.prepare_bytes(data, name, spec, with_steps=True)
        assert picture.image.shape == (32, 32, 3) and picture.image.dtype == np.float32, name
        assert 0.0 <= picture.image.min() and picture.image.max() <= 1.0 and np.isfinite(picture.image).all(), name
        assert [title for title, _ in picture.steps] == ["original", "3x32x32 RGB"]
    png = _encoded(rgb, "PNG")
    for name, data, words in [
        ("truncated.png", png[: len(png) // 2], "truncated or corrupt"),
        ("notes.png", b"plain text, not a picture", "not an image"),
        ("empty.png", b"", "empty"),
    ]:
        with pytest.raises(reading.ImageError, match=words) as err:
            inputs.prepare_bytes(data, name, spec)
        assert "\n" not in str(err.value)


def test_larger_pictures_are_enlarged_less_so_pages_laid_out_for_digits_hold_them():
    assert [render.display_scale(4, h) for h in (28, 32, 36, 64, 68)] == [4, 4, 4, 2, 2]
    assert render.display_scale(3, 28) == 3 and render.display_scale(3, 64) == 1 and render.display_scale(8, 64) == 4
    assert [render.display_width(4, h, h) for h in (28, 32, 64)] == [112, 128, 112]  # 64 px: a digit's width
    assert render.display_width(4, 64, 128) == 224 and render.display_width(3, 64, 64) == 64  # never enlarged
    assert render.display_width(1, 184, 244) == 244  # a grid enlarged before: never drawn below its own size


def test_the_reconstruct_page_says_how_an_upload_is_prepared_for_the_model():
    from aelab.ui.text import upload_recipe

    assert "centred by mass in 28x28" in upload_recipe((1, 28, 28))
    assert "3x64x64 RGB" in upload_recipe((3, 64, 64)) and "MNIST" not in upload_recipe((3, 64, 64))
