"""What the operator of a served aelab decides, and the rules that keep browser users apart.

`streamlit run app.py` bound to localhost is one person's app: any folder may be read and a run
replaced after confirmation, as always. Bound to any other address (Streamlit's default, all
interfaces, included), every browser is a user nobody vetted: the app is *served*, so folders
are read only inside the ones the operator allows, runs belong to the session that trained
them, loads and sessions are bounded, and training stops once its owner has gone. Settings
come from environment variables, read when asked (the pages ask on each run). Streamlit-free:
the pages pass in what Streamlit knows (its address, a session's files) and act on the answers.
"""

from __future__ import annotations

import ipaddress
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection, Hashable, Mapping, MutableMapping, Sequence, TypeVar

from aelab.data.dataset import DatasetUnavailable
from aelab.data.folders import LOCAL_LIMITS, Limits
from aelab.data.registry import DATA_DIR_ENV, data_dir
from aelab.images.reading import MAX_PIXELS

SERVED_ENV = "AELAB_SERVED"  # 1 or 0: served or local, whatever the address says
ALLOWED_FOLDERS_ENV = "AELAB_ALLOWED_FOLDERS"  # os.pathsep-separated; set but empty: no server folder at all
SHARED_RUNS_ENV = "AELAB_SHARED_RUNS"  # 1: in a served app, any session may replace any trained run
SESSION_TIMEOUT_ENV = "AELAB_SESSION_TIMEOUT"  # seconds a run outlives its owner's last sign of life; 0: forever
MAX_FILES_ENV = "AELAB_MAX_FILES"  # the limits of one folder or zip (data.Limits)...
MAX_MB_ENV = "AELAB_MAX_MB"
MAX_MEGAPIXELS_ENV = "AELAB_MAX_MEGAPIXELS"
MAX_SECONDS_ENV = "AELAB_MAX_SECONDS"

# A served app's defaults: a class's folders and zips of digits fit; a user's load takes 2 minutes at most.
SERVED_LIMITS = Limits(files=20_000, bytes=200 * 2**20, pixels=12_000_000, seconds=120.0)
SERVED_SESSION_TIMEOUT = 600.0  # seconds: a closed laptop lid or a reconnect does not end a run
MAX_UPLOADS = 100  # uploaded images one session keeps
MAX_UPLOAD_BYTES = 32 * 2**20  # those images and their preprocessing steps together
MAX_SELECTIONS = 100  # entries in any per-session record of picks (chosen points, files seen by an uploader)

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
K = TypeVar("K", bound=Hashable)


class SettingsError(ValueError):
    """An environment variable the operator set cannot be used; the message names it."""


class FolderRefused(DatasetUnavailable):
    """A typed folder this user may not read, or that is not there; the message is for that user."""


@dataclass(frozen=True)
class Settings:
    """The operator's choices, as one value the pages read."""

    served: bool
    allowed_folders: tuple[Path, ...] | None  # resolved; None: any folder (a local app)
    shared_runs: bool
    session_timeout: float | None  # None: a run outlives its owner (a local app)
    limits: Limits


def is_local_address(address: str | None) -> bool:
    """Whether Streamlit's server.address lets only this machine in: localhost, 127.x or ::1.

    None or empty means every interface (Streamlit's default), a host name may be anything: neither is local.
    """
    text = (address or "").strip().strip("[]").lower()
    if text in ("localhost", "localhost."):
        return True
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def settings(address: str | None, environ: Mapping[str, str] = os.environ) -> Settings:
    """The settings for an app bound to `address` (st.get_option("server.address")).

    Raises SettingsError when a variable is set to something unusable: better the operator
    learns at once than a browser user later.
    """
    flag = _flag(environ, SERVED_ENV)
    served = not is_local_address(address) if flag is None else flag
    timeout = _number(environ, SESSION_TIMEOUT_ENV, SERVED_SESSION_TIMEOUT if served else 0.0, allow_zero=True)
    return Settings(served, allowed_folders(served, environ), bool(_flag(environ, SHARED_RUNS_ENV)),
                    timeout or None, limits(served, environ))


def allowed_folders(served: bool, environ: Mapping[str, str] = os.environ) -> tuple[Path, ...] | None:
    """The folders browser users may train from, resolved: $AELAB_ALLOWED_FOLDERS when set; else, when
    served, only the data folder ($AELAB_DATA_DIR); else None, any folder."""
    value = environ.get(ALLOWED_FOLDERS_ENV)
    if value is None:
        return (_real(data_dir(environ.get(DATA_DIR_ENV))),) if served else None
    return tuple(_real(Path(os.path.expanduser(part.strip()))) for part in value.split(os.pathsep) if part.strip())


def limits(served: bool, environ: Mapping[str, str] = os.environ) -> Limits:
    """The limits of one folder or zip: the served or local defaults, each replaceable by its variable."""
    base = SERVED_LIMITS if served else LOCAL_LIMITS
    megapixels = _number(environ, MAX_MEGAPIXELS_ENV, base.pixels / 1e6)
    if megapixels * 1e6 > MAX_PIXELS:
        raise SettingsError(f"{MAX_MEGAPIXELS_ENV} is {megapixels:g}: aelab decodes images of at most "
                            f"{MAX_PIXELS / 1e6:g} megapixels.")
    return Limits(files=int(_number(environ, MAX_FILES_ENV, base.files)),
                  bytes=int(_number(environ, MAX_MB_ENV, base.bytes / 2**20) * 2**20),
                  pixels=int(megapixels * 1e6), seconds=_number(environ, MAX_SECONDS_ENV, base.seconds))


def _flag(environ: Mapping[str, str], name: str) -> bool | None:
    value = environ.get(name, "").strip().lower()
    if not value:
        return None
    if value in _TRUE + _FALSE:
        return value in _TRUE
    raise SettingsError(f"{name} is {value!r}: use 1 or 0.")


def _number(environ: Mapping[str, str], name: str, default: float, allow_zero: bool = False) -> float:
    value = environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise SettingsError(f"{name} is {value!r}: use a positive number{' (or 0 for none)' if allow_zero else ''}.")
    return number


# --- folders ------------------------------------------------------------------------------


def resolve_folder(text: str, allowed: Sequence[Path] | None) -> Path:
    """The real folder (`~`, `..` and links resolved) a person typed, if they may read it.

    Outside every allowed folder the refusal says the same whether or not the path exists, and
    never shows where a link led, so it tells nothing about the server's files. The resolved
    path is what to load: a link changed after this check cannot lead elsewhere.
    """
    typed = text.strip()
    if not typed:
        raise FolderRefused("Type the path of a folder of images.")
    try:
        real = _real(Path(os.path.expanduser(typed)))
    except (ValueError, OSError):  # a NUL byte, a path too long: no folder anybody has
        real = None
    if allowed is not None:
        roots = [_real(root) for root in allowed]
        if real is None or not any(real.is_relative_to(root) for root in roots):
            if not roots:
                raise FolderRefused("Folders on the server are not open to training here: upload a zip instead.")
            raise FolderRefused(f"{typed} is not open to training here: use a folder inside "
                                f"{' or '.join(str(root) for root in roots)}.")
    if real is None or not real.is_dir():
        raise FolderRefused(f"There is no folder at {typed}.")
    return real


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


# --- runs ---------------------------------------------------------------------------------


def replace_problem(path: Path, created_in_session: Collection[Path], settings: Settings,
                    shipped_dir: Path) -> str | None:
    """Why this session may not write the run file `path`, or None when it may.

    A new file may always be written; one this session created may be replaced; a shipped model
    never; in a served app another's run only in shared-runs mode; in a local app, any (the page
    asks first, as before).
    """
    if not path.exists():
        return None
    real = _real(path)
    if real in {_real(p) for p in created_in_session}:
        return None
    if real.is_relative_to(_real(shipped_dir)):
        return f"{path.stem} is a model that ships with aelab and is never replaced: choose another name."
    if settings.served and not settings.shared_runs:
        return f"A model named {path.stem} exists already, trained in another session: choose another name."
    return None


# --- sessions -----------------------------------------------------------------------------


def evict_oldest(store: MutableMapping[K, Any], max_items: int, max_bytes: int | None = None,
                 size: Callable[[K], int] | None = None) -> list[K]:
    """Delete the oldest entries (a dict keeps insertion order) until at most `max_items` remain
    and, with `max_bytes`, their `size(key)` sum to at most that; return the deleted keys, oldest first.

    Call it after each addition, so a session holds a bounded amount however long it stays.
    """
    sizes = {key: size(key) for key in store} if max_bytes is not None and size is not None else {}
    total, dropped = sum(sizes.values()), []
    for key in list(store):
        if len(store) <= max_items and (max_bytes is None or total <= max_bytes):
            break
        total -= sizes.get(key, 0)
        del store[key]
        dropped.append(key)
    return dropped


class OwnerWatch:
    """Whether the session that started a run is still there: a run's should_stop uses `expired`.

    Its owner's page runs call `beat()`; `alive`, when given, asks the server whether the
    session is still connected (so an open but idle tab counts) and must not raise. The run
    should end once neither has been heard from for `timeout` seconds; None never expires.
    Beats come from the script thread and checks from the run's: a float is written whole.
    """

    def __init__(self, timeout: float | None, alive: Callable[[], bool] | None = None) -> None:
        self.timeout, self.alive = timeout, alive
        self.last = time.monotonic()

    def beat(self) -> None:
        self.last = time.monotonic()

    def expired(self) -> bool:
        if self.timeout is None:
            return False
        if self.alive is not None and self.alive():
            self.beat()
            return False
        return time.monotonic() - self.last > self.timeout
