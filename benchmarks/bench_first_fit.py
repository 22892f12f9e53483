"""The first `fit` of a model: optimiser built by `compile_cae`/`compile_cyclegan` (now) vs built inside `fit` (before).

    python benchmarks/bench_first_fit.py [--repeats 3] [--size 24]

Keras builds an unbuilt optimiser inside the first trace of the training step; a
`tf.function` that creates variables is traced a second time, so the step was traced
twice. `compile_cae`/`compile_cyclegan` now build the optimiser right after `compile`.
For the CAE (Table 1) and the `smoke` CycleGAN (U-Net depth 3, 8 filters) this script
times the first `fit` (one epoch of 2 steps on toy pairs: nearly all of it is tracing)
both ways, interleaved `repeats` times in this one process, counts the traces of the
training step, and prints the ratio of the best times. It is what every training run
and every test that trains pays once per model. Runs under TensorFlow (the tracing is
TensorFlow's).
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_BACKEND"] = "tensorflow"


def first_fit(model:str, prebuilt:bool, size:int) -> tuple[float, int]:
    "Seconds of the first `fit` and the number of traces of the training step."
    import keras
    import numpy as np
    from survey2survey.cae import build_cae
    from survey2survey.cyclegan import build_cyclegan
    rng = np.random.default_rng(0)
    x = rng.random((4, size, size, 3), dtype=np.float32)
    if model == "cae":
        m = build_cae(size)
        m.compile(optimizer=keras.optimizers.Adadelta(1.0), loss="mse")
    else:
        m = build_cyclegan(size, depth=3, filters=8)
        m.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
    if prebuilt: m.optimizer.build(m.trainable_variables)   # what compile_cae / compile_cyclegan now do
    traces, step = [0], m.train_step
    def counted(*a):
        traces[0] += 1   # runs once per trace (the step itself runs as a graph)
        return step(*a)
    m.train_step = counted
    t = time.perf_counter()
    m.fit(x, np.sqrt(x), batch_size=2, epochs=1, verbose=0, shuffle=False)
    return time.perf_counter() - t, traces[0]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3, help="timings of each configuration, interleaved (default 3)")
    p.add_argument("--size", type=int, default=24, help="image side (default 24, the toy datasets')")
    a = p.parse_args()
    first_fit("cae", True, a.size)   # warm-up: imports, first kernels
    for model in ("cae", "cyclegan"):
        res = {False: [], True: []}
        for _ in range(a.repeats):
            for prebuilt in (False, True): res[prebuilt].append(first_fit(model, prebuilt, a.size))
        (before, n0), (now, n1) = min(res[False]), min(res[True])
        print(f"{model}: first fit {before:.2f} s with the optimiser built inside fit ({n0} traces), "
              f"{now:.2f} s built before ({n1} trace{'s' if n1 > 1 else ''}): {before/now:.2f}x faster")


if __name__ == "__main__":
    main()
