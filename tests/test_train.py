"""Training's promises that need more than one process: SIGKILL and resume, the JAX
backend, data-parallel training on several (virtual) devices."""
import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
HAS_JAX = importlib.util.find_spec("jax") is not None


def env(root, **kw):
    return {**os.environ, "SURVEY2SURVEY_DATA": str(root), "SURVEY2SURVEY_PROGRESS": "0", "TF_CPP_MIN_LOG_LEVEL": "2", **kw}


# for the JAX tests' subprocesses: XLA compiles without its costly optimisations (what is checked is what the backend
# computes, not how fast: the JAX training test took 70 s with them, 43 s without)
QUICK_XLA = dict(XLA_FLAGS="--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    "A data root holding the toy dataset `toy` (16 training, 4 validation pairs of 24x24)."
    from survey2survey.train import write_toy_dataset
    r = tmp_path_factory.mktemp("root")
    write_toy_dataset(r/"toy", n_train=16, n_val=4, n_external=4)
    return r


def history(run) -> pd.DataFrame:
    return pd.read_csv(Path(run)/"history.csv")


def train_cmd(*args):
    return [str(BIN/"survey2survey"), "train", *args]


# the CycleGAN's resume is also checked in-process by nbs/20_train.ipynb; its SIGKILL run is the slower one
@pytest.mark.parametrize("model", ["cae", pytest.param("cyclegan", marks=pytest.mark.slow)])
def test_sigkill_mid_epoch_then_resume(root, model):
    from survey2survey.train import train
    args = [model, "--preset", "smoke", "--data", "toy", "--epochs", "3"]
    train(model, "smoke", data=root/"toy", epochs=3, out=root/f"{model}-ref")   # the uninterrupted run, in this process
    run = root/f"{model}-killed"
    # the runner SIGKILLs itself when asked for the second training batch of epoch 3
    killed = subprocess.run([sys.executable, str(HERE/"train_runner.py"), "train", *args, "--out", str(run)],
                            env=env(root, S2S_DIE_AT_BATCH="2:1"), capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    state = json.loads((run/"checkpoint"/"state.json").read_text())
    assert state["epoch"] == 2 and not (run/"model.keras").exists()
    again = subprocess.run(train_cmd(*args, "--out", str(run)), env=env(root), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "resuming after epoch 2" in again.stderr
    h, r = history(run), history(root/f"{model}-ref")
    assert h.epoch.tolist() == [1, 2, 3]
    assert np.isfinite(h.drop(columns="epoch").to_numpy()).all()
    # same batches, same weights and optimiser state: the resumed run is the uninterrupted one
    np.testing.assert_allclose(h.drop(columns="epoch").to_numpy(), r.drop(columns="epoch").to_numpy(), rtol=1e-4, atol=1e-6)
    assert sorted(p.name for p in (run/"checkpoint").iterdir()) == ["epoch-0003.weights.h5", "state.json"]


# CAE, efficient preset on 16x16 crops with symmetries, 4 steps per epoch (16 training pairs in batches of 4)
STEPS = dict(epochs=2, crop=16, batch_size=4, checkpoint_minutes=0)


@pytest.fixture(scope="module")
def steps_ref(root):
    "The uninterrupted run of the step tests (`STEPS`), trained once, in this process (`xdist_group`: one worker runs them)."
    from survey2survey.train import train
    train("cae", "efficient", data=root/"toy", out=root/"steps-ref", **STEPS)
    return root/"steps-ref"


def test_sigkill_at_a_step_then_resume_gives_the_uninterrupted_weights(root, steps_ref):
    """Crops, symmetries and a checkpoint every 3 steps (4 steps per epoch); killed after step 7, whose last checkpoint is step 6;
    resumed with a checkpoint every 2 steps. (nbs/20_train.ipynb's in-process version of this is flagged `slow`.)"""
    import keras
    args = ["cae", "--preset", "efficient", "--data", "toy", "--epochs", "2", "--crop", "16", "--batch-size", "4",
            "--checkpoint-steps", "3", "--checkpoint-minutes", "0"]
    run = root/"steps-killed"
    killed = subprocess.run([sys.executable, str(HERE/"train_runner.py"), "train", *args, "--out", str(run)],
                            env=env(root, S2S_DIE_AT_STEP="7"), capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    state = json.loads((run/"checkpoint"/"state.json").read_text())
    assert (state["epoch"], state["batch"], state["weights"]) == (1, 2, "step-00000006.weights.h5")
    assert len(state["history"]) == 1 and not (run/"model.keras").exists()
    assert sorted(p.name for p in (run/"checkpoint").iterdir()) == ["state.json", "step-00000006.weights.h5"]
    # how often a run saves may change when it is resumed: it decides nothing the run computes
    again = subprocess.run(train_cmd(*args[:-4], "--checkpoint-steps", "2", "--checkpoint-minutes", "0", "--out", str(run)),
                           env=env(root), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "resuming after epoch 1, batch 2" in again.stderr
    # same weights, optimiser state, crops and running means: the resumed run is the uninterrupted one, bit for bit
    pd.testing.assert_frame_equal(history(run), history(steps_ref))
    a, b = (keras.models.load_model(d/"model.keras").get_weights() for d in (run, steps_ref))
    assert len(a) == len(b) == 14
    for x, y in zip(a, b): np.testing.assert_array_equal(x, y)


@pytest.mark.skipif(not HAS_JAX, reason="jax is not installed (pip install -e '.[jax]')")
def test_jax_backend_trains_and_its_models_load_under_tensorflow(root):
    script = """
import json, sys, numpy as np, keras
from survey2survey.train import train, read_history
from survey2survey.store import open_store
out = {}
for model, arch in (("cae", None), ("cyclegan", dict(depth=2, filters=4))):   # a tiny U-Net: the backend is the point
    meta = train(model, "smoke", data="toy", out=sys.argv[1] + "/" + model, architecture=arch)
    net = keras.models.load_model(meta["path"] + "/model.keras")
    x = open_store(sys.argv[2] + "/toy/pairs").read("sdss", [16, 17])
    np.save(meta["path"] + "/pred.npy", keras.ops.convert_to_numpy(net(x)))
    out[model] = dict(backend=meta["backend"], epochs=meta["epochs"]["run"], history=read_history(meta["path"]).drop(columns="epoch").to_numpy().tolist())
print(json.dumps(out))
"""
    r = subprocess.run([sys.executable, "-c", script, str(root/"jax"), str(root)], env=env(root, KERAS_BACKEND="jax", **QUICK_XLA),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    import keras
    from survey2survey.store import open_store
    x = open_store(root/"toy"/"pairs").read("sdss", [16, 17])
    for model in ("cae", "cyclegan"):
        assert out[model]["backend"] == "jax" and out[model]["epochs"] == 2
        assert np.isfinite(out[model]["history"]).all()
        # a model trained under JAX gives the same outputs under TensorFlow
        net = keras.models.load_model(root/"jax"/model/"model.keras")
        np.testing.assert_allclose(keras.ops.convert_to_numpy(net(x)), np.load(root/"jax"/model/"pred.npy"), atol=1e-5)


def multidevice(root, backend):
    r = subprocess.run([sys.executable, str(HERE/"multidevice.py"), str(root/f"md-{backend}")], env=env(root, KERAS_BACKEND=backend, **(QUICK_XLA if backend == "jax" else {})),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    for model in ("cae", "cyclegan"):
        # one step on 2 devices = one step on 1 device with the same (global) batch
        assert res[model]["max_change"] > 1e-3
        assert res[model]["max_diff"] < 1e-4 * res[model]["max_change"], res[model]
        assert res[f"train_{model}"] == dict(epochs=2, finite=True)
    return res


def test_data_parallel_tensorflow_mirrored_strategy(root):
    multidevice(root, "tensorflow")


@pytest.mark.slow
@pytest.mark.skipif(not HAS_JAX, reason="jax is not installed (pip install -e '.[jax]')")
def test_data_parallel_jax(root):
    assert multidevice(root, "jax")["devices"] == ["cpu:0", "cpu:1"]


@pytest.mark.parametrize("cmd", [["train", "cae", "--preset", "smoke", "--data", "toy"], ["translate", "--model", "cae-smoke-seed0"]])
def test_unknown_backend_is_a_clear_error(root, cmd):
    r = subprocess.run([str(BIN/"survey2survey"), *cmd], env=env(root, KERAS_BACKEND="theano"), capture_output=True, text=True)
    assert r.returncode == 2 and "KERAS_BACKEND='theano' is not a Keras backend" in r.stderr and "Traceback" not in r.stderr


def test_nonfinite_training_image_is_a_clear_error(root, tmp_path):
    "A pair store damaged behind its writer's back (a NaN image) stops `train` before the first epoch, naming the store and the row."
    import shutil
    from survey2survey.core import StoreValidationError
    from survey2survey.store import damage_images
    from survey2survey.train import train
    shutil.copytree(root/"toy", tmp_path/"toy")
    damage_images(tmp_path/"toy"/"pairs", "sdss", [5])
    with pytest.raises(StoreValidationError, match=rf"{tmp_path/'toy'/'pairs'}, sdss: image\(s\) 5 have NaN/inf pixels"):
        train("cae", "smoke", data=str(tmp_path/"toy"), out=tmp_path/"run")
    assert not (tmp_path/"run"/"checkpoint").exists()
    damage_images(tmp_path/"toy"/"pairs", "sdss", [5], value=0.5)   # repaired (other data: a new run)
    assert train("cae", "smoke", data=str(tmp_path/"toy"), out=tmp_path/"run", overwrite=True, epochs=1)["epochs"]["run"] == 1


def test_stop_at_step_is_a_point_of_the_longer_run(root, steps_ref):
    "Stopped at step 6 (epoch 2, batch 2 of 4), the model is that point of the run; continued, it is the uninterrupted run, bit for bit."
    import keras
    from survey2survey.train import train
    kw = dict(data=root/"toy", **STEPS)
    stopped = train("cae", "efficient", out=root/"stop", stop_at_step=6, **kw)
    ref = json.loads((steps_ref/"model.json").read_text())
    assert stopped["steps"] == dict(run=6, stop_at_step=6) and stopped["epochs"]["run"] == 1 and ref["steps"]["run"] == 8
    at6 = keras.models.load_model(root/"stop"/"model.keras").get_weights()
    mtime = (root/"stop"/"model.keras").stat().st_mtime_ns
    assert train("cae", "efficient", out=root/"stop", stop_at_step=6, **kw)["steps"]["run"] == 6   # the same command: nothing to do
    assert (root/"stop"/"model.keras").stat().st_mtime_ns == mtime
    done = train("cae", "efficient", out=root/"stop", **kw)
    assert done["steps"]["run"] == 8
    pd.testing.assert_frame_equal(history(root/"stop"), history(steps_ref))
    a, b = (keras.models.load_model(d/"model.keras").get_weights() for d in (root/"stop", steps_ref))
    for x, y in zip(a, b): np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, y) for x, y in zip(at6, a)), "step 6 is not the end of the run"
