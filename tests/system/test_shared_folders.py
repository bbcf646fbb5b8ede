"""Several app processes sharing one cache folder (behind a load balancer): writes are whole, a file is
never read half-written, and two processes computing the same projection at once end with the same one."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from aelab.explore import projections
from aelab.store import cache

ROOT = Path(__file__).resolve().parents[2]
KEYS = 8

# One app process: for each of projections k0, k1, ... it meets the other at a barrier (a file each in
# a folder), then asks for the projection and computes it when the cache lacks it. Its result is random
# (seeded by the process) where t-SNE's threads would differ in the last digits: the two computations
# never agree, so only the cache can make the processes end with the same projection.
COMPUTER = textwrap.dedent("""
    import hashlib, json, os, sys, time
    from pathlib import Path
    import numpy as np
    from aelab.explore import projections
    barrier, keys, computed, seen = Path(sys.argv[1]), int(sys.argv[2]), [], {}
    rng = np.random.default_rng(os.getpid())

    def compute():
        computed.append(key)
        coords = rng.standard_normal((ROWS, 2)).astype(np.float32)
        return projections.Projection("pca", coords, np.arange(ROWS), {}, np.zeros(2), np.eye(2))

    for i in range(keys):
        key = f"k{i}"
        (barrier / f"{i}.{os.getpid()}").touch()
        while len(list(barrier.glob(f"{i}.*"))) < 2:
            time.sleep(0.001)
        found = projections.cached_projection(key, "pca", compute)
        seen[key] = hashlib.sha256(found.coords.tobytes()).hexdigest()
    print(json.dumps({"computed": computed, "seen": seen}))
""").replace("ROWS", "200_000")  # 1.6 MB: a write takes a while

# A third process reads every file of the cache folder while the two write: each must load whole.
READER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    import numpy as np
    folder, stop, loads = Path(sys.argv[1]), Path(sys.argv[2]), 0
    while not stop.exists():
        for path in folder.glob("pca-*.npz"):
            with np.load(path) as arrays:
                assert arrays["coords"].shape == (200_000, 2), path
            loads += 1
        time.sleep(0.005)
    print(json.dumps({"loads": loads, "temporaries": sorted(p.name for p in folder.iterdir() if p.suffix == ".tmp")}))
""")


def _python(code: str, *args: object, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )


def test_two_processes_computing_the_same_projection_at_once_both_end_with_the_stored_one(tmp_path, settings):
    with settings(cache_dir=tmp_path):
        env = {**os.environ, "OMP_NUM_THREADS": "1"}  # with the settings' cache folder
        barrier = tmp_path.parent / f"{tmp_path.name}-barrier"
        barrier.mkdir()
        computers = [_python(COMPUTER, barrier, KEYS, env=env) for _ in range(2)]
        stop = tmp_path.parent / f"{tmp_path.name}-stop"
        reader = _python(READER, tmp_path, stop, env=env)
        results = [json.loads(proc.communicate(timeout=300)[0]) for proc in computers]
        stop.touch()
        read = json.loads(reader.communicate(timeout=300)[0])
        assert all(proc.returncode == 0 for proc in [*computers, reader])

        contested = set(results[0]["computed"]) & set(results[1]["computed"])
        print(f"{len(contested)} of {KEYS} projections computed by both processes at once; {read['loads']} whole reads")
        assert len(contested) >= KEYS // 2  # the races really happened
        for i in range(KEYS):
            stored = projections.load_projection(f"k{i}", "pca")
            digest = hashlib.sha256(stored.coords.tobytes()).hexdigest()
            assert results[0]["seen"][f"k{i}"] == results[1]["seen"][f"k{i}"] == digest
        assert read["loads"] > 0 and not list(tmp_path.glob("*.tmp"))  # every file read whole; no temporary left


def test_a_damaged_entry_makes_way_but_a_file_another_process_just_wrote_stays(tmp_path, monkeypatch, settings):
    with settings(cache_dir=tmp_path):
        good = {"x": np.arange(5)}
        (tmp_path / "codes-d.npz").write_bytes(b"half a file, from before writes were atomic")
        assert np.array_equal(cache.store_once("codes", "d", good)["x"], good["x"])  # the damaged one made way
        assert np.array_equal(cache.store_once("codes", "d", {"x": np.zeros(5)})["x"], good["x"])  # the first stays

        (tmp_path / "codes-e.npz").write_bytes(b"damaged")
        real_load = np.load

        def replaced_while_reading(file, **kw):  # another process stores a good file while this one reads
            cache.save_arrays("codes", "e", good)
            return real_load(file, **kw)

        monkeypatch.setattr(np, "load", replaced_while_reading)
        assert cache.load_arrays("codes", "e") is None  # what it opened was damaged...
        monkeypatch.setattr(np, "load", real_load)
        assert np.array_equal(cache.load_arrays("codes", "e")["x"], good["x"])  # ...but the new file was kept


def test_some_arrays_of_an_entry_are_read_alone_and_an_entry_lacking_one_is_recomputed(tmp_path, settings):
    """The first page reads a split's labels without its pixels; an entry without an array asked for is
    one of an older layout: removed, so that it is computed again."""
    with settings(cache_dir=tmp_path):
        cache.save_arrays("dataset", "k", {"pixels": np.zeros((3, 2, 2), np.uint8), "labels": np.arange(3)})
        assert list(cache.load_arrays("dataset", "k", ("labels",))) == ["labels"]
        assert sorted(cache.load_arrays("dataset", "k")) == ["labels", "pixels"]
        assert cache.load_arrays("dataset", "k", ("labels", "classes")) is None
        assert not (tmp_path / "dataset-k.npz").exists()
