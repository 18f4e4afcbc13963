"""Animate one episode to a GIF: sub-scans appearing, features lighting up, the discovery curve growing.

Example::

    stemscan replay --agent oracle --scene lattice-defects --seed 0 -o episode.gif
"""

from __future__ import annotations

import argparse

from stemscan.cli_types import float_in, int_in, json_object, seed

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--agent", required=True, help="agent name (stemscan.agents.names())")
    parser.add_argument("--scene", required=True, help="scene family (stemscan.scenes.names())")
    parser.add_argument("--seed", type=seed, default=0, help="episode seed (default 0)")
    parser.add_argument("-o", "--output", required=True, help="GIF to write")
    parser.add_argument("--env-kwargs", type=json_object, default=None, help="JSON of STEMScan-v0 keywords (e.g. dose_budget)")
    parser.add_argument("--agent-kwargs", type=json_object, default=None, help="JSON of the agent's keywords")
    parser.add_argument("--fps", type=float_in(0.1, 100.0), default=4.0, help="frames per second, 0.1-100 (default 4)")
    parser.add_argument("--max-side", type=int_in(32, 4096), default=384,
                        help="longest side of the field panel, pixels, 32-4096 (default 384)")


def run(args: argparse.Namespace) -> int:
    from stemscan.atomic import check_output_file
    from stemscan.benchmarks.replay import record_episode, write_gif

    check_output_file(args.output, "--output")  # before playing the episode
    if not str(args.output).lower().endswith(".gif"):
        raise ValueError(f"--output: replay writes a GIF; give a path ending in .gif, got {args.output!r}")
    recording = record_episode(args.agent, args.scene, args.seed, args.env_kwargs or {}, args.agent_kwargs or {})
    write_gif(args.output, recording, fps=args.fps, max_side=args.max_side)
    found, total = recording.final_found, recording.features_total
    print(f"wrote {args.output}: {len(recording.frames)} frames, {found}/{total} features found")
    return 0
