"""Data-parallel training on virtual CPU devices, compared with one device.

    KERAS_BACKEND=tensorflow|jax python multidevice.py DATA_ROOT

Makes 2 CPU devices (TensorFlow: logical devices; JAX: XLA's host platform device
count), then for the CAE and the CycleGAN takes one SGD step on the same batch of 4
pairs on 1 device and on 2 devices (each sees 2 pairs) and prints, as JSON, the largest
difference between the two sets of weights: the distributed step must average the
per-device gradients exactly as one device does over the whole batch. Finally it runs
`train(..., devices=2)` end to end on the toy dataset under DATA_ROOT (the CycleGAN with the same
tiny U-Net: the devices are the point).
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["SURVEY2SURVEY_PROGRESS"] = "0"
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
if BACKEND == "jax":
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
else:
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()]*2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from survey2survey.cae import build_cae  # noqa: E402
from survey2survey.cyclegan import build_cyclegan  # noqa: E402
from survey2survey.train import distribution_scope, read_history, train, write_toy_dataset  # noqa: E402


def one_step(build, devices, weights, x, y):
    "Weights after one SGD step on (x, y) as one batch, data-parallel over `devices`."
    with distribution_scope(devices):
        m = build()
        m.set_weights(weights)
        m.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse" if m.name == "cae" else None)
        m.optimizer.build(m.trainable_variables)   # before `fit`: variables made in its first trace make TensorFlow trace twice
        m.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
        return [np.asarray(w) for w in m.get_weights()]


def main():
    root = sys.argv[1]
    rng = np.random.default_rng(0)
    x = rng.random((4, 16, 16, 3), dtype=np.float32)
    y = np.sqrt(x)
    builds = dict(cae=lambda: build_cae(16), cyclegan=lambda: build_cyclegan(16, depth=2, filters=4))
    res = dict(devices=keras.distribution.list_devices() if BACKEND == "jax" else None)
    for name, build in builds.items():
        keras.utils.set_random_seed(0)
        w0 = build().get_weights()
        one, two = one_step(build, 1, w0, x, y), one_step(build, 2, w0, x, y)
        res[name] = dict(max_diff=max(float(np.abs(a - b).max()) for a, b in zip(one, two)),
                         max_change=max(float(np.abs(a - b).max()) for a, b in zip(one, w0)))
    os.environ["SURVEY2SURVEY_DATA"] = root
    write_toy_dataset(os.path.join(root, "toy"))
    for name, arch in (("cae", None), ("cyclegan", dict(depth=2, filters=4))):   # the CycleGAN's tiny U-Net of the step above
        meta = train(name, "smoke", data="toy", devices=2, out=os.path.join(root, f"{name}-2dev"), architecture=arch)
        h = read_history(meta["path"])
        res[f"train_{name}"] = dict(epochs=meta["epochs"]["run"], finite=bool(np.isfinite(h.drop(columns="epoch").to_numpy()).all()))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
