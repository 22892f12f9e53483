"""Scale-out: translation throughput in one process vs on local Dask clusters, cluster memory, and the scale table.

    python benchmarks/bench_dask.py [--n 640] [--size 150] [--chunk 32] [--repeats 1]

Makes a toy external set of `n` SDSS-like images of the paper's size (150x150) and a
paper-architecture CAE (the smoke training preset: the paper's network, a few steps of
training: its speed is the trained model's), then translates the same store with:

* `single`      one process, TensorFlow's default threads (all cores): `survey2survey translate`;
* `single-1t`   one process pinned to one intra-op thread (the per-core baseline);
* `procs-2`     no Dask: two plain one-thread processes, started and warmed up first, each
                translating half of the chunks into the same store: what this machine
                gives two single-core processes at most (its memory bus and caches are
                shared), the ceiling for any scale-out here;
* `dask-1w`     a local cluster of 1 worker process whose TensorFlow uses all cores
                (what Dask costs compared with `single`; goal: at most 10% slower);
* `dask-2w`     a local cluster of 2 worker processes, one thread each (the scale-out;
                goal on 2 cores: >= 1.7x `single-1t`, the same work on one core; it is also
                compared with `single`, which already spreads TensorFlow over both cores);

each in its own process (TensorFlow's threads are fixed when it starts; the Dask
configurations pass the model by path, so their client never imports Keras), after a
warm-up on a small store (model loading and graph tracing are not timed). Throughput
is images / wall time of `translate` (read, forward pass, write, completion records).
Outputs are compared bit for bit between configurations with the same TensorFlow thread
count (`dask-1w` with `single`, `dask-2w` with `single-1t`): TensorFlow's CPU
convolutions sum in an order that depends on it.

The `dask-2w` run also evaluates the translated set (`evaluate --scheduler`), and the
peak memory of the whole cluster (client + scheduler + nannies + workers, sampled every
0.2 s) is reported as summed PSS (shared libraries such as TensorFlow's counted once:
the real footprint) and summed RSS (counted once per process), with the per-worker
peaks (RSS); the
workers hold one chunk at a time, so only the client's tables grow with `n`: the
script extrapolates the peak to the paper's 25,076 external images from the measured
size of those tables per image.

Finally the scale table: estimated wall time and cost of translating 1 million SDSS
galaxies on this machine, on a 16-worker CPU cluster and on one GPU, from the measured
per-image costs and the assumptions printed with it (prices, GPU speed-up).
Run it on a quiet machine: other processes change every ratio.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SURVEY2SURVEY_PROGRESS", "0")

PAPER_EXTERNAL = 25_076
CONFIGS = ("single", "single-1t", "procs-2", "dask-1w", "dask-2w")
ONE_THREAD = dict(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS="1")
# assumptions of the scale table (override on the command line)
PRICE_MACHINE_H = 0.10     # USD per hour for a 2-vCPU cloud VM like this machine (e.g. AWS c6i.large on demand, ~0.085)
PRICE_CORE_H = 0.045       # USD per vCPU-hour of a CPU cluster node (on-demand compute-optimised instances)
PRICE_GPU_H = 2.50         # USD per hour for one data-centre GPU (A100-class, on demand)
GPU_SPEEDUP = 50.0         # GPU images/s over this whole machine's: an ASSUMPTION (see --gpu-speedup)


class Peak:
    """Peak memory (MB) of this process and all its descendants, sampled in a thread: summed RSS (counts the
    shared libraries, e.g. TensorFlow's, once per process) and summed PSS (shares them out: the real footprint)."""
    def __init__(self, every=0.2):
        import psutil
        self.proc, self.every, self.peak, self.peak_pss, self._stop = psutil.Process(), every, 0.0, 0.0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psutil
        while not self._stop.is_set():
            rss = pss = 0
            for p in [self.proc] + self.proc.children(recursive=True):
                try:
                    m = p.memory_full_info()
                    rss, pss = rss + m.rss, pss + getattr(m, "pss", m.rss)
                except psutil.Error: pass
            self.peak, self.peak_pss = max(self.peak, rss/2**20), max(self.peak_pss, pss/2**20)
            time.sleep(self.every)

    def __enter__(self): self._t.start(); return self
    def __exit__(self, *exc): self._stop.set(); self._t.join()


def prepare(d:Path, n:int, size:int, chunk:int):
    "The dataset (a few training pairs, `n` external images), a warm-up store, and the trained CAE."
    from survey2survey.train import train, write_toy_dataset
    os.environ["SURVEY2SURVEY_DATA"] = str(d)
    write_toy_dataset(d/"data", n_train=8, n_val=4, n_external=n, image_size=size, chunk_size=chunk)
    write_toy_dataset(d/"warm", n_train=1, n_val=1, n_external=2*chunk, image_size=size, chunk_size=chunk)
    train("cae", "smoke", data=d/"data", out=d/"model")


def run_chunks(d:Path, chunks:list):
    "A `procs-2` process: load and warm up the model, say `ready`, then translate `chunks` into the store named on stdin."
    from survey2survey.store import StoreWriter, open_store
    from survey2survey.train import predict
    from survey2survey.translate import load_model, translate_chunk
    net, meta = load_model(d/"model")
    src = open_store(d/"data"/"external")
    predict(net, src.read("sdss", slice(0, 16)))
    print("ready", flush=True)
    for line in sys.stdin:   # one output store per timed repeat
        w = StoreWriter(line.strip(), worker=True)
        for i in chunks: translate_chunk(net, meta["model"], src, w, i)
        print("done", flush=True)


def two_processes(d:Path):
    "Two warm one-thread `run_chunks` processes (even and odd chunks) and a `map_chunks` that runs them."
    from survey2survey.store import open_store
    n_chunks = open_store(d/"data"/"external").spec.n_chunks
    procs = [subprocess.Popen([sys.executable, __file__, "--run-chunks", ",".join(map(str, range(k, n_chunks, 2))), "--dir", str(d)],
                              env=dict(os.environ, **ONE_THREAD), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for k in (0, 1)]
    for p in procs: assert p.stdout.readline().strip() == "ready", "a procs-2 process failed to start"
    def map_chunks(model, src, w, pending, batch_size):
        assert len(pending) == n_chunks
        for p in procs: p.stdin.write(f"{w.path}\n"); p.stdin.flush()
        for p in procs: assert p.stdout.readline().strip() == "done", "a procs-2 process failed"
    return procs, map_chunks


def run_config(name:str, d:Path, repeats:int) -> dict:
    "Time one configuration (in this process, started for it); JSON-able results."
    import shutil
    os.environ["SURVEY2SURVEY_DATA"] = str(d)
    ext = d/"data"/"external"
    n = int(json.loads((ext/"manifest.json").read_text())["spec"]["n"])
    res = dict(config=name, n=n)
    def timed(run):
        best = float("inf")
        for k in range(repeats):
            out = d/f"out-{name}"
            shutil.rmtree(out, ignore_errors=True)
            t0 = time.perf_counter(); run(out); best = min(best, time.perf_counter() - t0)
        return best
    with Peak() as peak:
        if name.startswith("single"):
            from survey2survey.translate import load_model, translate
            model = load_model(d/"model")
            translate(model, d/"warm"/"external", output=d/f"warm-{name}", overwrite=True)
            res["seconds"] = timed(lambda out: translate(model, ext, output=out))
        elif name == "procs-2":
            from survey2survey.translate import translate
            procs, map_chunks = two_processes(d)
            res["seconds"] = timed(lambda out: translate(d/"model", ext, output=out, map_chunks=map_chunks))
            for p in procs: p.stdin.close(); p.wait()
        else:
            from survey2survey.distributed import client_for, evaluate_dask, last_run, translate_dask
            model = d/"model"   # by path: the workers load it, this process (client + scheduler) never imports Keras
            ncores = os.cpu_count() or 1
            workers, compute = (1, ncores) if name == "dask-1w" else (2, 1)
            with client_for("local", workers=workers, threads_per_worker=1, compute_threads=compute) as client:
                translate_dask(client, model, d/"warm"/"external", output=d/f"warm-{name}", overwrite=True)
                res["seconds"] = timed(lambda out: translate_dask(client, model, ext, output=out))
                res["peak_mb_per_worker_translate"] = last_run()["peak_mb_per_worker"]
                if name == "dask-2w":
                    shutil.rmtree(d/"data"/"cae-external", ignore_errors=True)
                    shutil.copytree(d/f"out-{name}", d/"data"/"cae-external")
                    ev = evaluate_dask(client, d/"data", splits=["external"], bootstrap=100, overwrite=True)
                    res["peak_mb_per_worker"] = last_run()["peak_mb_per_worker"]
                    tables = ev.images.memory_usage(deep=True).sum() + ev.pairs.memory_usage(deep=True).sum()
                    tables += sum(v.nbytes for k, v in ev.profile_arrays().items() if k != "radius_pix")
                    res["client_bytes_per_image"] = float(tables)/n
    res["client_imports"] = sorted(m for m in ("keras", "tensorflow", "jax", "torch") if m in sys.modules)
    res["peak_mb_cluster"], res["peak_mb_cluster_pss"] = peak.peak, peak.peak_pss
    from survey2survey.distributed import _peak_rss_mb
    res["peak_mb_client"] = _peak_rss_mb()
    res["images_per_s"] = n/res["seconds"]
    return res


def identical(d:Path, a:str, b:str) -> bool:
    from survey2survey.store import open_store
    x, y = (open_store(d/f"out-{c}").read("cae", slice(None)) for c in (a, b))
    return x.tobytes() == y.tobytes()


def hours(s): return f"{s/3600:,.1f} h" if s >= 3600 else f"{s/60:,.1f} min"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=640, help="external images to translate (default 640 = 20 chunks of 32)")
    p.add_argument("--size", type=int, default=150, help="image side (default 150, the paper's)")
    p.add_argument("--chunk", type=int, default=32, help="images per stored chunk (default 32, the store's default)")
    p.add_argument("--repeats", type=int, default=1, help="timed translations per configuration; the best is kept")
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    p.add_argument("--gpu-speedup", type=float, default=GPU_SPEEDUP,
                   help=f"assumed GPU throughput / this machine's (default {GPU_SPEEDUP:g}; measure it: run the `single` config on a GPU)")
    p.add_argument("--run-config", help=argparse.SUPPRESS)
    p.add_argument("--run-chunks", help=argparse.SUPPRESS)
    p.add_argument("--dir", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.run_chunks:
        return run_chunks(Path(a.dir), [int(i) for i in a.run_chunks.split(",")])
    if a.run_config:
        print("RESULT " + json.dumps(run_config(a.run_config, Path(a.dir), a.repeats)), flush=True)
        return
    import psutil
    ncores = os.cpu_count()
    print(f"machine: {ncores} cores, {psutil.virtual_memory().total/2**30:.1f} GiB; load average now "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} (timings need a quiet machine)")
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        d = Path(tmp)
        t0 = time.perf_counter()
        prepare(d, a.n, a.size, a.chunk)
        print(f"prepared {a.n} external images of {a.size}x{a.size} in chunks of {a.chunk}, and the CAE ({time.perf_counter() - t0:.0f} s)")
        res = {}
        for c in a.configs:
            env = dict(os.environ, SURVEY2SURVEY_DATA=str(d))
            if c == "single-1t": env.update(ONE_THREAD)
            r = subprocess.run([sys.executable, __file__, "--run-config", c, "--dir", str(d), "--repeats", str(a.repeats)],
                               env=env, capture_output=True, text=True)
            line = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
            if r.returncode or not line: sys.exit(f"{c} failed:\n{r.stderr[-3000:]}")
            res[c] = json.loads(line[0][7:])
            print(f"  {c:10s} {res[c]['images_per_s']:8.1f} images/s  ({res[c]['seconds']:.1f} s for {a.n} images)", flush=True)

        print("\nthroughput ratios (same store, same run):")
        def ratio(x, y, what, goal=None):
            if x in res and y in res:
                r = res[x]["images_per_s"]/res[y]["images_per_s"]
                ok = "" if goal is None else ("  [goal " + goal[0] + (" met]" if goal[1](r) else " NOT met]"))
                print(f"  {what:58s} {r:5.2f}x{ok}")
        ratio("dask-2w", "single-1t", "scale-out: 2 workers (1 core each) / 1 process on 1 core", (">= 1.7", lambda r: r >= 1.7))
        ratio("procs-2", "single-1t", "this machine's ceiling: 2 plain processes / 1 process, 1 core each")
        ratio("dask-2w", "procs-2", "Dask's efficiency: 2 workers / 2 plain processes")
        ratio("dask-1w", "single", "Dask's overhead: 1 worker / 1 process (both on all cores)", (">= 0.9", lambda r: r >= 0.9))
        ratio("dask-2w", "single", "2 workers (1 core each) / 1 process on all cores")
        ratio("single", "single-1t", "1 process: all cores / 1 core (TensorFlow's own threading)")
        if {"single", "single-1t"} <= set(res):
            r = res["single"]["images_per_s"]/res["single-1t"]["images_per_s"]
            print(f"  (on {ncores} cores no split of the work can beat {ncores}x one core; a single process already reaches "
                  f"{r:.2f}x with TensorFlow's threads, so workers on this one machine can add at most {ncores/r:.2f}x to it:\n"
                  "   the scale-out pays where a process cannot use the cores, i.e. across machines)")
        for c in ("dask-1w", "dask-2w"):
            if c in res: print(f"  deep-learning libraries imported by the {c} client: {', '.join(res[c]['client_imports']) or 'none'}")
        # TensorFlow's CPU convolutions sum in an order that depends on its thread count: compare equal thread counts
        for c, ref in (("dask-1w", "single"), ("dask-2w", "single-1t"), ("procs-2", "single-1t")):
            if c in res and ref in res: print(f"  outputs of {c} and {ref} (same TensorFlow threads) bitwise identical: {identical(d, c, ref)}")

        if "dask-2w" in res:
            r = res["dask-2w"]
            workers = r["peak_mb_per_worker"]
            grow = r["client_bytes_per_image"]*(PAPER_EXTERNAL - a.n)/2**20
            print(f"\nmemory, 2-worker cluster translating then evaluating {a.n} images:")
            print("  peak per worker: " + ", ".join(f"{m:.0f} MB" for m in workers.values()) + " (one chunk at a time: independent of n)")
            print(f"  peak of the client process (+ scheduler): {r['peak_mb_client']:.0f} MB")
            print(f"  peak of the whole cluster, client + scheduler + nannies + workers: {r['peak_mb_cluster_pss']:.0f} MB summed PSS "
                  f"(shared libraries counted once), {r['peak_mb_cluster']:.0f} MB summed RSS (counted per process)")
            print(f"  client-side tables: {r['client_bytes_per_image']/1024:.1f} kB per image -> +{grow:.0f} MB at {PAPER_EXTERNAL:,} images")
            for what, key in (("PSS", "peak_mb_cluster_pss"), ("RSS", "peak_mb_cluster")):
                est = r[key] + max(grow, 0)
                print(f"  estimated whole-cluster peak ({what}) for the paper's external set ({PAPER_EXTERNAL:,} images): {est:.0f} MB "
                      f"[goal < 3 GB {'met' if est < 3072 else 'NOT met'}]")

        if "single" in res:
            n = 1_000_000
            here = 1/res["single"]["images_per_s"]
            core = 1/res["single-1t"]["images_per_s"] if "single-1t" in res else here*ncores
            eff = (res["dask-2w"]["images_per_s"]/(2*res["single-1t"]["images_per_s"])) if {"dask-2w", "single-1t"} <= set(res) else 1.0
            t_here, t_16, t_gpu = n*here, n*core/(16*eff), n*here/a.gpu_speedup
            print(f"\nscale table: translating {n:,} SDSS galaxies (150x150, the paper's CAE)")
            print(f"  | where | per-image cost | wall time | cost (USD) |")
            print(f"  |---|---|---|---|")
            print(f"  | (a) this machine ({ncores} cores, measured) | {here*1e3:.1f} ms | {hours(t_here)} | {t_here/3600*PRICE_MACHINE_H:,.2f} |")
            print(f"  | (b) 16-worker CPU cluster (1 core each) | {core*1e3:.1f} ms/core | {hours(t_16)} | {t_16/3600*16*PRICE_CORE_H:,.2f} |")
            print(f"  | (c) one GPU (assumed {a.gpu_speedup:g}x this machine) | {here/a.gpu_speedup*1e3:.2f} ms | {hours(t_gpu)} | {t_gpu/3600*PRICE_GPU_H:,.2f} |")
            print("  assumptions: (a) the `single` throughput above, at USD %.2f/h for a 2-vCPU VM; (b) the per-core cost of "
                  "`single-1t`, 16 workers scaling with the 2-worker efficiency measured here (%.2f), USD %.3f per vCPU-hour, "
                  "stores on a shared file system fast enough not to limit; (c) a GPU %gx faster than this whole machine "
                  "(an assumption, not a measurement: run this script's `single` config on the GPU to replace it), "
                  "USD %.2f/h. Cluster start-up and data transfer are not included."
                  % (PRICE_MACHINE_H, eff, PRICE_CORE_H, a.gpu_speedup, PRICE_GPU_H))


if __name__ == "__main__":
    main()
