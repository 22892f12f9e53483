"""Shared pytest setup.

Notebook cells and tests flagged `slow`, `net` or `gpu` are skipped unless forced:
`pytest --flags "slow net"` (or `S2S_TEST_FLAGS="slow"`).

The session's data root is a fresh temporary folder, never the user's. Tests and notebooks
may reuse what another one left there only by content (e.g. `reproduce.ensure` checks that a
dataset or model is complete and made from the same inputs), never by order. Every test must
leave the environment and the current folder as it found them (`monkeypatch.setenv`,
`survey2survey.core.env_set`/`data_root_set`): `restored_environment` fails a test that does not.

`pytest` runs the tests on 2 processes or more (pytest-xdist, `-n auto --dist loadgroup` in pyproject.toml;
`pytest -n 0` runs them in this one). Each worker process has its own data root. Tests that share expensive work
(a module-scoped fixture, the session's smoke reproduction) form one group (`xdist_group`): one worker runs them all,
so that it does the work once.
"""
import gc
import os
import re
import tempfile

import pytest

# Quiet defaults for test runs; set before anything imports TensorFlow.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SURVEY2SURVEY_PROGRESS", "0")
# Keep tests away from the user's real data root, even when one is set.
os.environ["SURVEY2SURVEY_DATA"] = tempfile.mkdtemp(prefix="s2s-test-data-")


def cores() -> int:
    "The CPU cores this process may run on."
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# With pytest-xdist's workers, TensorFlow, OpenMP and BLAS in each worker (and in the processes it starts)
# get the worker's share of the cores (at least one thread), as a local Dask cluster's workers do (see CONTRIBUTING.md); what is set stays.
if (_workers := int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))):
    from survey2survey.distributed import worker_env   # no TensorFlow import: the limits apply when it starts
    for _k, _v in worker_env(max(1, cores()//_workers)).items(): os.environ.setdefault(_k, _v)

FLAGGED = ("slow", "net", "gpu")


def pytest_addoption(parser):
    parser.addoption("--flags", default=os.environ.get("S2S_TEST_FLAGS", ""),
                     help="space-separated test flags to run (slow net gpu): notebook cells and tests carrying them are skipped otherwise")


def forced_flags(config) -> list[str]:
    return config.getoption("--flags").split()


# Tests run in one worker because they share work: their module's fixture (built once per process), or the smoke
# reproduction that `reproduce.ensure`/`figure_step` leave in the session's data root (done once per data root).
SHARED_MODULE_FIXTURE = ("test_distributed.py", "test_docs.py", "test_fetch.py", "test_images.py", "test_ship_models.py", "test_simulate.py",
                         "test_store.py")
SMOKE_REPRODUCTION = re.compile(r"tests/test_reproduce\.py::|tests/test_notebooks\.py::test_notebook\[(70_reproduce|9\d_\w+)\]")
# A few tests of a module that share a module-scoped fixture the rest of their module does not use (the rest is spread out).
SHARED_FIXTURE_TESTS = {"test_train.py::steps_ref": re.compile(r"tests/test_train\.py::test_(sigkill_at_a_step|stop_at_step)_")}


# The longest work first (what `--durations` showed), so that the workers finish together instead of one of them
# starting a long test at the end: a test's place is the first pattern its node id matches, the others keep their order.
LONGEST_FIRST = [re.compile(p) for p in (
    r"test_notebook\[20_train\]", SMOKE_REPRODUCTION.pattern, r"tests/test_distributed\.py::", r"tests/test_train\.py::",
    r"tests/test_docs\.py::", r"test_notebook\[(32_physics|51_scale_out|11_cyclegan|41_gallery|80_cli|22_images)\]")]


def _place(item) -> int:
    return next((i for i, p in enumerate(LONGEST_FIRST) if p.search(item.nodeid)), len(LONGEST_FIRST))


def xdist_group(nodeid:str) -> str | None:
    "The group of a test whose tests run in one pytest-xdist worker (`--dist loadgroup`), or None."
    if SMOKE_REPRODUCTION.search(nodeid): return "smoke-reproduction"
    if (group := next((g for g, p in SHARED_FIXTURE_TESTS.items() if p.search(nodeid)), None)): return group
    if (module := nodeid.split("::")[0].rsplit("/", 1)[-1]) in SHARED_MODULE_FIXTURE: return module
    return None


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_auto_num_workers(config):
    """`-n auto`: one worker process more than cores (`--maxprocesses` caps it). Many tests wait on processes they
    started (Dask workers, training runs killed and resumed, Chromium), leaving a core idle; a third worker on 2 cores
    uses that time (2026-12-07, idle 2-core Intel machine, same commit: 479 s with 2 workers, 451 s with 3).
    `PYTEST_XDIST_AUTO_NUM_WORKERS` still overrides, as in pytest-xdist."""
    if (n := os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS", "")).isdigit(): return int(n)
    return cores() + 1


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup` with the groups of `xdist_group`. (pytest-xdist's own reads `xdist_group` marks by renaming
    node ids, which pytest 9 no longer allows: its groups would be silently ignored.)"""
    if config.getvalue("dist") != "loadgroup": return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        "A group's tests go to one worker, together; every other test is a unit of its own."
        def _split_scope(self, nodeid): return xdist_group(nodeid) or nodeid
    return GroupScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    forced = set(forced_flags(config))
    for item in items:
        for flag in FLAGGED:
            if flag in item.keywords and flag not in forced:
                item.add_marker(pytest.mark.skip(reason=f"flag `{flag}` not forced (use --flags {flag})"))
    items.sort(key=_place)


# Set by TensorFlow (and the libraries it loads) when first imported, in whatever test that happens: not a leak.
IMPORT_SIDE_EFFECTS = ("TF2_BEHAVIOR", "TPU_ML_PLATFORM", "TPU_ML_PLATFORM_VERSION", "TPU_SKIP_MDS_QUERY", "HDF5_PLUGIN_PATH",
                       "ENABLE_RUNTIME_UPTIME_TELEMETRY")


@pytest.fixture(autouse=True)
def earlier_objects_frozen():
    """Move every object that earlier tests left (modules, notebook shells, traced TensorFlow graphs) out of the garbage
    collector's reach before each test: `gc.freeze()`.

    A full collection walks every tracked object, and TensorFlow's graph objects make that walk slow: measured in the
    whole suite on 2 cores, single full collections took 15-60 s once the workers held ~1M objects
    (`test_stop_at_step_...`: one collection, 60 s of its 64 s; `test_every_export_is_documented`: 55 s of 56 s), and
    the suite spent ~200 s of its two workers' time in the collector. With this fixture the same tests take 3.7 s and
    0.65 s. Garbage that an earlier test left in reference cycles is not freed (the workers peaked at 2.4 GB)."""
    gc.freeze()
    yield


@pytest.fixture(autouse=True)
def restored_environment():
    "Fail a test (or notebook) that changes environment variables or the current folder and does not restore them."
    from survey2survey.core import env_restore
    env, cwd = dict(os.environ), os.getcwd()
    yield
    for k in (*IMPORT_SIDE_EFFECTS, "PYTEST_CURRENT_TEST"):   # (pytest's own is set for each phase)
        if k in os.environ: env[k] = os.environ[k]
    changed = env_restore(env)   # put everything back first, so that one leak does not fail later tests
    moved = os.getcwd() != cwd
    os.chdir(cwd)
    assert not changed and not moved, f"the test left changed: {', '.join(changed + (['the current folder'] if moved else []))}"
