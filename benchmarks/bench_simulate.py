"""Simulation throughput, measured in one run.

    python benchmarks/bench_simulate.py [--n 48] [--processes 2] [--run quick|paper]

Prints, for one process: pairs/s and external images/s by wall-clock and by CPU time (on a
shared machine the CPU-time rate is the one that says what the code costs; a wall rate far
below it means other processes took the cores), and where the time of one pair goes. Then
the rate of `simulate` with `--processes` workers on a small dataset, the parallel
efficiency (that rate over `processes` x the one-process rate), and the projected wall time
of the `quick` and `paper` presets. `--run` also writes that preset and times it. The load
average before and after is printed: the machine's contention during the measurement.
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SURVEY2SURVEY_PROGRESS", "0")


def rate(f, n):
    "Items per second of `f(i)` over `n` items: (by wall clock, by this process's CPU time)."
    w, c = time.perf_counter(), time.process_time()
    for i in range(n): f(i)
    return n/(time.perf_counter() - w), n/(time.process_time() - c)


def stages(config, n):
    "Seconds per pair spent making the scene, rendering each survey and composing the pictures."
    from survey2survey.render import compose, render_flux
    from survey2survey.scene import make_scene
    from survey2survey.surveys import instrument
    t = dict(scene=0.0, render_sdss=0.0, render_des=0.0, compose=0.0)
    displays = dict(sdss=config.sdss_display, des=config.des_display)
    for i in range(n):
        c = time.process_time(); sc = make_scene(config, 0, "pairs", i); t["scene"] += time.process_time() - c
        for sv in ("sdss", "des"):
            c = time.process_time()
            f, _ = render_flux(instrument(sv), sc.galaxy, sc.conditions[sv], sc.rngs[sv], sc.neighbours, sc.stars, sc.bright_star, sc.artifacts[sv])
            t[f"render_{sv}"] += time.process_time() - c
            c = time.process_time(); compose(f, instrument(sv), displays[sv], sc.artifacts[sv]); t["compose"] += time.process_time() - c
    return {k: v/n for k, v in t.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=48, help="galaxies per one-process measurement")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--run", choices=("quick", "paper"), help="also write this preset and time it")
    a = p.parse_args()
    from survey2survey.scene import PRESETS, SimConfig, preset_config, simulate_one
    from survey2survey.simulate import simulate

    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    cfg = preset_config("paper")
    simulate_one(cfg, 0, "pairs", 0); simulate_one(cfg, 0, "external", 0)   # tables and caches
    pw, pc = rate(lambda i: simulate_one(cfg, 0, "pairs", i), a.n)
    ew, ec = rate(lambda i: simulate_one(cfg, 0, "external", i), a.n)
    print(f"one process: {pw:6.1f} pairs/s wall, {pc:6.1f} pairs/s CPU; {ew:6.1f} external/s wall, {ec:6.1f} external/s CPU")
    print("CPU time per pair: " + ", ".join(f"{k} {1e3*v:.1f} ms" for k, v in stages(cfg, min(a.n, 24)).items()))

    n_pairs, n_ext = a.n*a.processes, a.n*a.processes
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        tiny = SimConfig(n_train=a.processes, n_val=0, n_external=a.processes, chunk_size=1)
        simulate("smoke", seed=1, out=Path(d)/"startup", processes=a.processes, config=tiny)
        startup = time.perf_counter() - t      # every worker of both pools starts (imports, tables) and draws one galaxy
        t = time.perf_counter()
        simulate("smoke", seed=1, out=Path(d)/"bench", processes=a.processes, n_train=n_pairs, n_val=0, n_external=n_ext)
        wall = time.perf_counter() - t
    serial = n_pairs/pw + n_ext/ew                  # the same work in one process, at the measured wall rates
    eff = serial/(max(wall - startup, 1e-9)*a.processes)
    print(f"simulate with {a.processes} processes: {n_pairs} pairs + {n_ext} external in {wall:.1f} s "
          f"({(n_pairs + n_ext)/wall:.1f} galaxies/s), of which {startup:.1f} s starting the two worker pools; "
          f"parallel efficiency without start-up {eff:.2f}")
    for name in ("quick", "paper"):
        s = PRESETS[name]
        cpu = (s["n_train"] + s["n_val"])/pc + s["n_external"]/ec
        print(f"projected {name}: {cpu:.0f} CPU-s = {cpu/a.processes/60:.1f} min on {a.processes} idle cores; "
              f"{(cpu/a.processes/min(eff, 1) + startup)/60:.1f} min at the parallel efficiency measured here")
    if a.run:
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            simulate(a.run, seed=0, out=Path(d)/a.run, processes=a.processes)
            print(f"{a.run} preset written in {(time.perf_counter() - t)/60:.1f} min with {a.processes} processes")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
