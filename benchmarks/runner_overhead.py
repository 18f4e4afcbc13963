"""Runner overhead per episode: `run_grid` versus the bare env + agent loop.

Usage: python benchmarks/runner_overhead.py [--episodes N] [--rounds R] [--agent random]

Both sides play the same `random`-agent episodes (default 512×512 field) in
this process, one after the other, in alternating rounds:

* bare: `gymnasium.make` + `agents.make` + reset + predict/step loop, nothing else;
* runner: `run_grid(workers=1)` on a fresh SQLite file (episode timing,
  metrics, curve JSON, one transaction per row, progress bookkeeping).

Overhead = (runner − bare) / bare per episode (median over rounds), in
wall time and in this process's CPU time (less sensitive to other load on a
shared machine).  Also a direct decomposition of the runner rounds: total
wall time minus the env + agent time the rows record.
Target: under 5 % of a `random`-agent episode.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def bare_episodes(specs) -> tuple[float, float]:
    import gymnasium

    import stemscan.agents
    from stemscan.benchmarks import play_episode
    from stemscan.benchmarks.spec import agent_seed

    start, cpu = time.perf_counter(), time.process_time()
    for spec in specs:
        env = gymnasium.make("STEMScan-v0", scene=spec.scene, **spec.env_kwargs)
        agent = stemscan.agents.make(spec.agent, env, seed=agent_seed(spec.seed), **spec.agent_kwargs)
        play_episode(env, agent, spec.seed, agent_seed(spec.seed))
        env.close()
    return (time.perf_counter() - start) / len(specs), (time.process_time() - cpu) / len(specs)


def runner_episodes(specs) -> tuple[float, float, float]:
    """Wall s/episode, CPU s/episode, and (wall − recorded env + agent time) / (env + agent time)."""
    from stemscan.benchmarks import load_results, run_grid

    with tempfile.TemporaryDirectory() as folder:
        start, cpu = time.perf_counter(), time.process_time()
        summary = run_grid(specs, Path(folder) / "r.sqlite", workers=1, progress=False)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        rows = load_results(Path(folder) / "r.sqlite", as_frame=False)
    assert summary.done == len(specs), summary
    inside = sum(r["env_time_s"] + r["agent_time_s"] for r in rows)
    return elapsed / len(specs), cpu / len(specs), (elapsed - inside) / inside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--agent", default="random")
    parser.add_argument("--scene", default="lattice-defects")
    args = parser.parse_args()

    from stemscan.benchmarks import expand_grid
    from stemscan.benchmarks.worker import init_worker

    init_worker()  # one-time worker set-up (torch import) is not per-episode overhead
    specs = expand_grid([args.agent], [args.scene], args.episodes)
    bare_episodes(specs[:2])  # warm caches
    wall, cpu, direct = [], [], []
    for round_ in range(args.rounds):
        bw, bc = bare_episodes(specs)
        rw, rc, d = runner_episodes(specs)
        wall.append((rw - bw) / bw * 100)
        cpu.append((rc - bc) / bc * 100)
        direct.append(d * 100)
        print(f"round {round_ + 1}: bare {bw * 1e3:.1f} ms wall / {bc * 1e3:.1f} ms CPU per episode; runner {rw * 1e3:.1f} ms wall / "
              f"{rc * 1e3:.1f} ms CPU; overhead wall {wall[-1]:+.2f} %, CPU {cpu[-1]:+.2f} %, direct {direct[-1]:+.2f} %")
    med = statistics.median
    print(f"{args.agent} on {args.scene}, {args.episodes} episodes x {args.rounds} rounds — runner overhead per episode, "
          f"median over rounds: wall {med(wall):+.2f} %, CPU {med(cpu):+.2f} %, direct (wall − env − agent) {med(direct):+.2f} % "
          f"(target < 5 %)")


if __name__ == "__main__":
    main()
