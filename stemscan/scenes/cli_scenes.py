"""List the scene families, or draw a gallery of one sample of each."""

from __future__ import annotations

import argparse

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gallery", metavar="PNG", help="write a picture with a sample of every family")
    parser.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")


def run(args: argparse.Namespace) -> int:
    from stemscan import scenes

    if args.gallery:
        from stemscan.scenes.gallery import save_gallery

        save_gallery(args.gallery, seed=args.seed, size=args.size)
        print(f"wrote {args.gallery}")
        return 0
    for name in scenes.names():
        print(name)
    return 0
