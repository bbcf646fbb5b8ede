"""A served aelab in headless Chromium: what one browser user tries against the server and other users.

One `streamlit run app.py` on 127.0.0.1 with AELAB_SERVED=1 (what any other address gives) serves
the module, its allowed folder a temporary one. Each attack must end in one clear line with nothing
read, written or shown from elsewhere: typing `/`, a link out of the allowed folder or a `..` escape
into the folder box; naming a model another session trained; uploading without end. A slow folder's
reading shows its progress and stops at a click.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Locator, Page, expect
from streamlit_page import TIMEOUT_MS, VIEWPORT, AppSocket, StreamlitApp, open_app, wait_for_app

from aelab.data.registry import data_dir, load_dataset
from aelab.images.render import to_png
from aelab.serving import MAX_UPLOADS

pytestmark = pytest.mark.timeout(600)

SLOW_FILES = 1500  # large scans that take a while to read: the load is still going when Stop is clicked
TRAIN_TIMEOUT_MS = 240_000


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """allowed/{digits,scans} and a link out of it to secret/, a folder of images beside it."""
    root = tmp_path_factory.mktemp("served")
    digits = load_dataset("mnist", "test", download=False).images[:, 0].numpy()
    for folder, n in ((root / "allowed" / "digits", 20), (root / "secret", 20)):
        folder.mkdir(parents=True)
        for i in range(n):
            (folder / f"{i}.png").write_bytes(to_png(digits[i]))
    scans = root / "allowed" / "scans"
    scans.mkdir()
    for i in range(SLOW_FILES):  # black ink on white, 336x336: read and prepared like a photo
        blob = io.BytesIO()
        Image.fromarray(np.round(255 * (1 - np.kron(digits[i], np.ones((12, 12))))).astype(np.uint8)).save(blob, "PNG")
        (scans / f"{i:04d}.png").write_bytes(blob.getvalue())
    (root / "allowed" / "link-out").symlink_to(root / "secret", target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def served_url(streamlit_app: StreamlitApp, tree: Path, settings) -> str:
    with settings(
        served=True,
        allowed_folders=tree / "allowed",
        data_dir=data_dir(),
        cache_dir=tree / "cache",
        runs_dir=tree / "runs",
    ):  # the server's environment: it starts inside
        return streamlit_app("app.py")


def _session(browser: Browser, url: str, title: str, heading: str) -> tuple[Page, AppSocket]:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    app = open_app(page, url)
    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=re.compile(rf"{re.escape(title)}$"))
    with app.expect_rerun():
        link.click()
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    return page, app


def _type(page: Page, app: AppSocket, label: str, value: str) -> None:
    field = page.get_by_label(label, exact=True)
    with app.expect_rerun():
        field.fill(value)
        field.press("Enter")


def _main_errors(page: Page) -> Locator:
    return page.get_by_test_id("stMain").get_by_test_id("stAlertContentError")


def test_the_folder_box_refuses_paths_outside_and_a_slow_read_stops_at_a_click(
    browser: Browser, served_url: str, tree: Path
) -> None:
    page, app = _session(browser, served_url, "Train", "Train a model")
    with app.expect_rerun():
        page.get_by_text("Folder on the server", exact=True).click()
    allowed = tree / "allowed"
    for typed in ("/", f"{allowed}/link-out", f"{allowed}/digits/../../secret"):
        _type(page, app, "Folder of images", typed)
        expect(_main_errors(page)).to_have_count(1)
        expect(_main_errors(page)).to_have_text(
            f"{typed} is not open to training here: type a folder inside allowed/, relative to it (e.g. my_digits)."
        )
        expect(page.get_by_text(re.compile("training images"))).to_have_count(0)
        expect(page.get_by_role("button", name=re.compile(r"\bTrain$"))).to_be_disabled()

    field = page.get_by_label("Folder of images", exact=True)
    field.fill(str(allowed / "scans"))
    field.press("Enter")  # the read runs for many seconds: its progress is drawn as it goes
    bar = page.get_by_test_id("stProgress")
    expect(bar).to_contain_text(re.compile(r"^Reading images: [\d,]+ of 1,500$"), timeout=TIMEOUT_MS)
    with app.expect_rerun():
        page.get_by_role("button", name=re.compile(r"\bStop reading$")).click()
    stopped = page.get_by_test_id("stAlertContentInfo").filter(has_text=re.compile("^Stopped reading"))
    expect(stopped).to_have_text("Stopped reading allowed/scans.")  # named inside the allowed folder, not where it is
    expect(bar).to_have_count(0)
    expect(_main_errors(page)).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile(r"\bTrain$"))).to_be_disabled()

    _type(page, app, "Folder of images", str(allowed / "digits"))
    expect(page.get_by_text("16 training images, unlabelled; a fifth more are held out for testing.")).to_be_visible()
    page.context.close()


def test_a_model_another_session_trained_cannot_be_replaced(browser: Browser, served_url: str, tree: Path) -> None:
    owner, owner_app = _session(browser, served_url, "Train", "Train a model")
    other, other_app = _session(browser, served_url, "Train", "Train a model")
    names = [page.get_by_label("Run name", exact=True).input_value() for page in (owner, other)]
    assert all(re.fullmatch(r"vae-mnist-z20-10ep-[0-9a-f]{4}", name) for name in names) and names[0] != names[1]

    _type(owner, owner_app, "Epochs", "1")
    _type(owner, owner_app, "Run name", "ours")
    owner.get_by_role("button", name=re.compile(r"\bTrain$")).click()
    expect(owner.get_by_test_id("stAlertContentSuccess").filter(has_text=re.compile(r"^Finished after"))).to_be_visible(
        timeout=TRAIN_TIMEOUT_MS
    )
    wait_for_app(owner)
    trained = (tree / "runs" / "ours.safetensors").read_bytes()
    expect(owner.get_by_text("Replace my existing model", exact=True)).to_be_visible()  # its own: it may

    _type(other, other_app, "Run name", "ours")
    expect(_main_errors(other)).to_have_count(1)
    expect(_main_errors(other)).to_have_text(
        "A model named ours exists already, trained in another session: choose another name."
    )
    expect(other.get_by_role("button", name=re.compile(r"\bTrain$"))).to_be_disabled()
    expect(other.get_by_text("Replace my existing model", exact=True)).to_have_count(0)
    assert (tree / "runs" / "ours.safetensors").read_bytes() == trained
    owner.context.close()
    other.context.close()


def test_uploads_beyond_the_bound_drop_the_oldest_with_a_toast(
    browser: Browser, served_url: str, tmp_path: Path
) -> None:
    page, app = _session(browser, served_url, "Reconstruct", "Reconstruct")
    digits = load_dataset("mnist", "test", download=False).images[:, 0].numpy()
    batches = []
    for start in (0, 60):
        files = [tmp_path / f"{i:03d}.png" for i in range(start, start + 60)]
        for i, path in enumerate(files, start):
            path.write_bytes(to_png(digits[i]))
        batches.append(files)
    uploader = (
        page.get_by_test_id("stMain").get_by_test_id("stFileUploader").get_by_test_id("stFileUploaderDropzoneInput")
    )
    with app.expect_rerun():
        uploader.set_input_files(batches[0])
    expect(page.get_by_text("60 image(s) kept for the other pages", exact=False)).to_be_visible()
    page.evaluate("""() => { window.__toasts = []; setInterval(() => {
        for (const t of document.querySelectorAll("[data-testid='stToastText']"))
          if (!window.__toasts.includes(t.textContent)) window.__toasts.push(t.textContent); }, 20); }""")
    with app.expect_rerun():
        uploader.set_input_files(batches[1])
    expect(page.get_by_text(f"{MAX_UPLOADS} image(s) kept for the other pages", exact=False)).to_be_visible()
    page.wait_for_function("() => window.__toasts.length")
    assert page.evaluate("() => window.__toasts") == [
        f"Dropped the oldest uploads (000.png, 001.png, 002.png and 17 more): a session keeps at most {MAX_UPLOADS} "
        "images, 32 MB."
    ]
    page.context.close()
