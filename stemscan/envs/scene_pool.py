"""Fixed, seed-determined pools of pre-generated scenes: train and test splits, as Procgen's levels.

``STEMScan-v0`` draws a fresh scene on every reset by default (~30-65 ms
at 512², over 95 % of an RL run's time).  With ``num_scenes=N,
start_scene=S`` it instead draws each episode's scene from the pool of the
``N`` scenes ``stemscan.scenes.make(family, seed=s, size=image_size,
**scene_kwargs)`` for ``s = S, S + 1, …, S + N − 1`` (uniformly, with the
env's ``np_random``), so generalisation can be measured on disjoint
pools::

    train = gym.make("STEMScan-v0", num_scenes=200, start_scene=0)          # seeds 0 … 199
    test = gym.make("STEMScan-v0", num_scenes=100, start_scene=1_000_000)   # seeds 10**6 … 10**6 + 99

Pools with the same ``(family, scene_kwargs, image_size, start_scene,
num_scenes)`` are generated once per process and shared by every env that
uses them (while one holds it).  With ``scene_cache_dir`` a pool is also
kept on disk, one ``.npz`` per pool (no pickles), written atomically and
named by a hash of its key and the stemscan version; its content SHA-256
is stored inside and checked on every read, so a corrupt or edited file
raises instead of feeding other scenes to an experiment.

Memory: a 512² scene takes 2 MB, plus ~4.5 MB of sampler tables once an
env has reset on it (:mod:`stemscan.envs.scene_tables`): a pool of 200
such scenes holds ~1.3 GB.
"""

from __future__ import annotations

import functools
import hashlib
import json
import multiprocessing
import os
import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from stemscan.atomic import atomic_path
from stemscan.scenes import Feature, Scene
from stemscan.scenes import make as make_scene

__all__ = ["ScenePool", "pool_seeds", "scene_pool"]

#: Pools of at least this many scenes show a tqdm progress bar while generated (on a terminal).
PROGRESS_MIN_SCENES = 16
_FORMAT = 1


def pool_seeds(start_scene: int, num_scenes: int) -> range:
    """Scene seeds of the pool ``(start_scene, num_scenes)``: ``start_scene … start_scene + num_scenes − 1``."""
    return range(start_scene, start_scene + num_scenes)


class ScenePool(Sequence):
    """An immutable sequence of scenes of one family, made from consecutive seeds.

    Attributes:
        family, scene_kwargs, size, start_scene: What the scenes were made with.
        scenes: The scenes, scene ``i`` from seed ``start_scene + i``.
    """

    def __init__(self, family: str, scene_kwargs: dict[str, Any], size: int, start_scene: int, scenes: Sequence[Scene]):
        self.family = family
        self.scene_kwargs = dict(scene_kwargs)
        self.size = size
        self.start_scene = start_scene
        self.scenes = tuple(scenes)

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, index: int) -> Scene:  # type: ignore[override]
        return self.scenes[index]

    def __deepcopy__(self, memo: dict) -> ScenePool:
        return self  # immutable and possibly GBs: a copied env shares its pool


_LOCK = threading.Lock()
_POOLS: weakref.WeakValueDictionary[tuple, ScenePool] = weakref.WeakValueDictionary()


def _key(family: str, scene_kwargs: dict[str, Any], size: int, start_scene: int, num_scenes: int) -> tuple:
    return (family, json.dumps(scene_kwargs, sort_keys=True, default=repr), size, start_scene, num_scenes)


def scene_pool(
    family: str,
    num_scenes: int,
    start_scene: int = 0,
    size: int = 512,
    scene_kwargs: dict[str, Any] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    workers: int | None = None,
) -> ScenePool:
    """The pool of ``num_scenes`` scenes of ``family`` from seeds ``start_scene …`` (generated once, cached).

    Args:
        family: A scene family name.
        num_scenes: Pool size, at least 1.
        start_scene: Seed of the first scene, at least 0.
        size: Field side, pixels.
        scene_kwargs: Family parameters.
        cache_dir: Optional folder for the pool's ``.npz`` (read if there, written if not).
        workers: Generate in this many processes (``None`` or 1: in this one).
            Each scene depends only on its seed, so the pool is the same
            either way.  Envs made while the returned pool is held reuse it,
            so a large pool can be generated in parallel first and the envs
            made after.
    """
    if workers is None:
        workers = 1
    for name, value, least in (("num_scenes", num_scenes, 1), ("start_scene", start_scene, 0), ("workers", workers, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    num_scenes, start_scene, size = int(num_scenes), int(start_scene), int(size)
    scene_kwargs = dict(scene_kwargs or {})
    key = _key(family, scene_kwargs, size, start_scene, num_scenes)
    with _LOCK:
        pool = _POOLS.get(key)
        if pool is not None:
            return pool
        path = None if cache_dir is None else Path(cache_dir) / _file_name(key)
        if path is not None and path.exists():
            scenes = _read(path, key)
        else:
            scenes = _generate(family, scene_kwargs, size, start_scene, num_scenes, int(workers))
            if path is not None:
                _write(path, key, scenes)
        pool = ScenePool(family, scene_kwargs, size, start_scene, scenes)
        _POOLS[key] = pool
        return pool


def _generate(family: str, scene_kwargs: dict[str, Any], size: int, start_scene: int, num_scenes: int, workers: int) -> list[Scene]:
    from tqdm.auto import tqdm

    seeds = pool_seeds(start_scene, num_scenes)
    make_one = functools.partial(make_scene, family, size=size, **scene_kwargs)
    bar = functools.partial(
        tqdm, total=num_scenes, desc=f"scene pool {family} (seeds {start_scene}…{start_scene + num_scenes - 1})",
        unit="scene", disable=None if num_scenes >= PROGRESS_MIN_SCENES else True, leave=False,
    )  # fmt: skip
    if workers <= 1 or num_scenes == 1:
        return [make_one(seed=seed) for seed in bar(seeds)]
    # spawned workers (no fork of a process holding numba/torch threads); results come back in seed order
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, num_scenes), mp_context=context) as executor:
        chunk = max(1, num_scenes // (4 * workers))
        return list(bar(executor.map(_make_seeded, [(family, size, scene_kwargs, seed) for seed in seeds], chunksize=chunk)))


def _make_seeded(job: tuple[str, int, dict[str, Any], int]) -> Scene:
    family, size, scene_kwargs, seed = job
    return make_scene(family, seed=seed, size=size, **scene_kwargs)


# --------------------------------------------------------------- disk cache
def _file_name(key: tuple) -> str:
    from stemscan import __version__

    digest = hashlib.sha256(json.dumps([_FORMAT, __version__, *key]).encode()).hexdigest()[:20]
    family, _, size, start, num = key
    return f"{family}-{size}px-s{start}-n{num}-{digest}.npz"


def _arrays(scenes: Sequence[Scene]) -> dict[str, np.ndarray]:
    atoms = [np.zeros((0, 2)) if s.atoms is None else np.asarray(s.atoms, dtype=np.float64) for s in scenes]
    classes = [np.zeros(0, np.int64) if s.atom_classes is None else np.asarray(s.atom_classes, dtype=np.int64) for s in scenes]
    return {
        "image": np.stack([s.image for s in scenes]),
        "labels": np.stack([s.labels for s in scenes]),
        "atoms": np.concatenate(atoms).reshape(-1, 2),
        "atom_offsets": np.cumsum([0] + [len(a) for a in atoms]).astype(np.int64),
        "atom_classes": np.concatenate(classes).astype(np.int64),
        "class_offsets": np.cumsum([0] + [len(c) for c in classes]).astype(np.int64),
    }


def _digest(arrays: dict[str, np.ndarray], meta_json: str) -> str:
    h = hashlib.sha256(meta_json.encode())
    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{value.dtype.str}:{value.shape}".encode())
        h.update(value.tobytes())
    return h.hexdigest()


def _write(path: Path, key: tuple, scenes: Sequence[Scene]) -> None:
    arrays = _arrays(scenes)
    meta = {
        "format": _FORMAT,
        "key": list(key),
        "scenes": [
            {
                "features": [f.to_dict() for f in s.features],
                "pixel_size": s.pixel_size,
                "family": s.family,
                "params": s.params,
                "seed": s.seed,
                "has_atoms": s.atoms is not None,
                "has_atom_classes": s.atom_classes is not None,
                "scored": s.scored,
            }
            for s in scenes
        ],
    }
    meta_json = json.dumps(meta, sort_keys=True)
    content = {"sha256": _digest(arrays, meta_json), "meta": meta_json}
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, header=np.frombuffer(json.dumps(content).encode(), dtype=np.uint8), **arrays)


def _read(path: Path, key: tuple) -> list[Scene]:
    problem = f"scene pool cache {str(path)!r} is corrupt or not a stemscan pool (delete it to regenerate)"
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        content = json.loads(arrays.pop("header").tobytes().decode())
        meta = json.loads(content["meta"])
    except Exception as error:  # zip, npy or JSON errors: all mean the same to the user
        raise ValueError(f"{problem}: {error}") from error
    if set(arrays) != {"image", "labels", "atoms", "atom_offsets", "atom_classes", "class_offsets"}:
        raise ValueError(f"{problem}: arrays {sorted(arrays)}")
    if _digest(arrays, content["meta"]) != content.get("sha256"):
        raise ValueError(f"{problem}: content SHA-256 does not match")
    if meta.get("key") != list(key) or len(meta["scenes"]) != key[-1]:
        raise ValueError(f"{problem}: it holds the pool {meta.get('key')}, not {list(key)}")
    scenes = []
    offsets, class_offsets = arrays["atom_offsets"], arrays["class_offsets"]
    for index, record in enumerate(meta["scenes"]):
        atoms = arrays["atoms"][offsets[index] : offsets[index + 1]]
        classes = arrays["atom_classes"][class_offsets[index] : class_offsets[index + 1]]
        scenes.append(
            Scene(
                image=arrays["image"][index].copy(),
                labels=arrays["labels"][index].copy(),
                features=[Feature(f["id"], f["kind"], tuple(f["centroid"]), f["weight"]) for f in record["features"]],
                pixel_size=record["pixel_size"],
                family=record["family"],
                params=record["params"],
                seed=record["seed"],
                atoms=atoms.copy() if record["has_atoms"] else None,
                atom_classes=classes.copy() if record["has_atom_classes"] else None,
                scored=record["scored"],
            )
        )
    return scenes
