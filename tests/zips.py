"""Zip archives built in memory, for the tests of zip uploads."""

import io
import zipfile


def zip_of(entries: dict[str, bytes]) -> bytes:
    """A deflated zip holding `entries` (member name -> bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()
