"""The one way the project writes a file: whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: str | Path, data: bytes, replace: bool = True) -> bool:
    """Write to a temporary file beside `path`, fsync, then rename: readers (another session, another
    app process) see the old file or the new one, never half of one, and a failure leaves no temporary.

    With `replace` False an existing file is kept, whoever wrote it, and False returned: the
    temporary is linked into place, which (unlike a rename) fails when the name is taken, so of
    two processes writing the same name at once exactly one wins.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        Path(tmp).unlink(missing_ok=True)
