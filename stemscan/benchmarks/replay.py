"""Replay one episode: record the env's ``rgb_array`` frames and write a GIF.

Each GIF frame shows the field (survey tint, sub-scans appearing, features
turning from red to green as they are found; see
:mod:`stemscan.envs.render`) beside the discovery curve growing up to that
step.  Same protocol and seeds as the benchmark
(:mod:`stemscan.benchmarks.episode`), so a replay shows the stored episode.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stemscan.atomic import atomic_path
from stemscan.benchmarks.episode import play_episode
from stemscan.benchmarks.spec import EpisodeSpec, agent_seed, expand_grid
from stemscan.validation import check_int, check_number

__all__ = ["Recording", "compose_frame", "record_episode", "record_spec", "write_gif"]


@dataclass
class Recording:
    """Frames and discovery curve of one episode.

    Attributes:
        label: ``agent / scene / seed``.
        frames: ``uint8`` (H, W, 3) renders, one after reset and one per step.
        curve: ``(dose_fraction, found_fraction)`` after reset and each step.
        positions: Patch centres ``(row, col)`` as fractions, one per step.
        features_found: Features found after reset and each step.
        features_total: Features in the scene.
        dose_budget: Budget as a fraction of one full frame.
    """

    label: str
    frames: list[np.ndarray] = field(default_factory=list)
    curve: list[tuple[float, float]] = field(default_factory=list)
    positions: list[tuple[float, float]] = field(default_factory=list)
    features_found: list[int] = field(default_factory=list)
    features_total: int = 0
    dose_budget: float = 0.1

    @property
    def final_found(self) -> int:
        return self.features_found[-1] if self.features_found else 0


def record_spec(spec: EpisodeSpec, frames: bool = True) -> Recording:
    """Play ``spec``'s episode with ``render_mode="rgb_array"`` and record it."""
    import gymnasium

    import stemscan
    import stemscan.agents

    stemscan.register_envs()
    env = gymnasium.make("STEMScan-v0", scene=spec.scene, render_mode="rgb_array", **spec.env_kwargs)
    try:
        seed_agent = agent_seed(spec.seed)
        agent = stemscan.agents.make(spec.agent, env, seed=seed_agent, **spec.agent_kwargs)
        rec = Recording(label=f"{spec.agent} / {spec.scene} / seed {spec.seed}")

        def snap(obs: dict[str, Any], info: dict[str, Any]) -> None:
            if rec.features_found:  # after a step: where it scanned
                rec.positions.append(tuple(float(v) for v in obs["position"]))
            total = int(info["features_total"])
            rec.features_total = total
            rec.curve.append((float(info["dose_fraction"]), int(info["features_found"]) / total if total else 0.0))
            rec.features_found.append(int(info["features_found"]))
            if frames:
                rec.frames.append(env.render())

        played = play_episode(env, agent, spec.seed, seed_agent, on_step=snap)
        rec.dose_budget = played.budget_fraction
        if not frames:
            rec.frames.append(env.render())
    finally:
        env.close()
    return rec


def record_episode(
    agent: str,
    scene: str,
    seed: int,
    env_kwargs: dict[str, Any] | None = None,
    agent_kwargs: dict[str, Any] | None = None,
) -> Recording:
    """Record one episode (names and kwargs validated, ``ValueError`` listing valid names)."""
    check_int("seed", seed)
    (spec,) = expand_grid([agent], [scene], [int(seed)], env_kwargs=env_kwargs, agent_kwargs={agent: agent_kwargs} if agent_kwargs else None)
    return record_spec(spec)


# --------------------------------------------------------------- drawing
_BG = (24, 24, 28)
_AXIS = (200, 200, 200)
_CURVE = (60, 220, 60)
_BUDGET = (230, 200, 40)


def _curve_panel(rec: Recording, upto: int, height: int, width: int) -> Any:
    """PIL image of the discovery curve up to point ``upto`` (inclusive)."""
    from PIL import Image, ImageDraw

    panel = Image.new("RGB", (width, height), _BG)
    draw = ImageDraw.Draw(panel)
    left, right, top, bottom = 44, width - 12, 40, height - 36
    x_max = max(rec.dose_budget, max((d for d, _ in rec.curve), default=0.0)) * 1.05 or 1.0

    def xy(dose: float, found: float) -> tuple[float, float]:
        return left + (right - left) * dose / x_max, bottom - (bottom - top) * found

    draw.rectangle([left, top, right, bottom], outline=_AXIS)
    for tick in (0.0, 0.5, 1.0):
        _, y = xy(0, tick)
        draw.line([left - 4, y, left, y], fill=_AXIS)
        draw.text((6, y - 6), f"{tick:.1f}", fill=_AXIS)
    bx, _ = xy(rec.dose_budget, 0)
    draw.line([bx, top, bx, bottom], fill=_BUDGET)
    draw.text((bx - 40, top - 14), "budget", fill=_BUDGET)
    draw.text((left, bottom + 8), f"dose (fraction of a frame, 0 to {x_max:.3g})", fill=_AXIS)
    draw.text((left, 6), "features found (fraction)", fill=_AXIS)
    points: list[tuple[float, float]] = []
    for i, (dose, found) in enumerate(rec.curve[: upto + 1]):
        if points:  # step function: horizontal, then up
            points.append(xy(dose, rec.curve[i - 1][1]))
        points.append(xy(dose, found))
    if len(points) > 1:
        draw.line(points, fill=_CURVE, width=2)
    if points:
        x, y = points[-1]
        draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=_CURVE)
    return panel


def compose_frame(rec: Recording, index: int, max_side: int = 384) -> np.ndarray:
    """GIF frame ``index``: field render beside the curve, with a caption; ``uint8`` (h, w, 3)."""
    from PIL import Image, ImageDraw

    field_img = Image.fromarray(rec.frames[index])
    scale = max_side / max(field_img.size)
    if scale != 1:
        size = (max(int(round(field_img.width * scale)), 1), max(int(round(field_img.height * scale)), 1))
        field_img = field_img.resize(size, Image.Resampling.NEAREST if scale > 1 else Image.Resampling.BILINEAR)
    caption = 22
    height = field_img.height + caption
    panel = _curve_panel(rec, index, height, max(int(field_img.width * 0.9), 240))
    canvas = Image.new("RGB", (field_img.width + panel.width, height), _BG)
    canvas.paste(field_img, (0, caption))
    canvas.paste(panel, (field_img.width, 0))
    draw = ImageDraw.Draw(canvas)
    step = index
    draw.text(
        (6, 5),
        f"{rec.label}  step {step}  found {rec.features_found[index]}/{rec.features_total}",
        fill=_AXIS,
    )
    return np.asarray(canvas)


def write_gif(path: str | os.PathLike[str], rec: Recording, fps: float = 4.0, max_side: int = 384) -> None:
    """Write the animated GIF atomically (temporary file in the same folder, then ``os.replace``)."""
    from PIL import Image

    if not rec.frames:
        raise ValueError("the recording has no frames (record with frames=True)")
    fps = check_number("fps", fps, 0.1, 100.0)  # a finite frame duration of 10 ms .. 10 s
    max_side = check_int("max_side", max_side, 32, 4096)
    target = Path(path)
    if target.suffix.lower() != ".gif":
        raise ValueError(f"replay writes a GIF; give a path ending in .gif, got {target.name!r}")
    images = [Image.fromarray(compose_frame(rec, i, max_side)) for i in range(len(rec.frames))]
    durations = [int(1000 / fps)] * len(images)
    durations[-1] = max(durations[-1], 2000)  # hold the final picture
    with atomic_path(target) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
