"""Time and peak memory of refusing memory-bomb files (issue 17), printed as a table.

Each file claims far more pixels than :data:`stemscan.scenes.limits.MAX_IMAGE_PIXELS`;
``stemscan.scenes.load`` must refuse it from the header, in milliseconds and
without allocating the claimed data.  Peak memory is Python's (``tracemalloc``,
which numpy reports its buffers to) during the ``load`` call.

    python benchmarks/file_bombs.py
"""

from __future__ import annotations

import struct
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np

import stemscan.scenes as scenes
from stemscan.scenes.limits import FileLimitError


def _npy(path: Path) -> str:
    from numpy.lib import format as npy_format

    with open(path, "wb") as handle:
        npy_format.write_array_header_1_0(handle, {"descr": "<f8", "fortran_order": False, "shape": (100000, 100000)})
    return "float64 100000² (74.5 GiB)"


def _hdf5(path: Path) -> str:
    import h5py

    with h5py.File(path, "w") as handle:
        handle.create_dataset("data", shape=(200000, 200000), dtype="f4", chunks=(256, 256))
    return "float32 200000² (149 GiB)"


def _tiff(path: Path) -> str:
    import tifffile

    side, tile = 16384, 1024
    zeros = np.zeros((tile, tile), dtype=np.uint8)
    tifffile.imwrite(path, (zeros for _ in range((side // tile) ** 2)), shape=(side, side), dtype=np.uint8,
                     tile=(tile, tile), compression="zlib")
    return "zlib uint8 16384² (256 MiB inflated)"


def _png(path: Path, side: int) -> str:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return f"8-bit {side}² header"


def main() -> None:
    cases = [("bomb.npy", _npy), ("bomb.h5", _hdf5), ("bomb.tif", _tiff),
             ("pil_bomb.png", lambda p: _png(p, 100000)), ("big.png", lambda p: _png(p, 9000))]
    print(f"{'file':<14} {'claims':<38} {'size':>10} {'refused in':>11} {'peak memory':>12}")
    with tempfile.TemporaryDirectory() as folder:
        for name, make in cases:
            path = Path(folder) / name
            claim = make(path)
            tracemalloc.start()
            start = time.perf_counter()
            try:
                scenes.load(path)
                outcome = "LOADED"
            except FileLimitError:
                outcome = "refused"
            seconds = time.perf_counter() - start
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"{name:<14} {claim:<38} {path.stat().st_size:>9,}B {seconds * 1e3:>9.1f}ms "
                  f"{peak / 2**20:>9.2f} MiB  {outcome}")


if __name__ == "__main__":
    main()
