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
(a module-scoped fixture, the session's smoke reproduction) carry one `xdist_group`, so that one worker does it once.
"""
import os
import re
import tempfile

import pytest

# Quiet defaults for test runs; set before anything imports TensorFlow.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SURVEY2SURVEY_PROGRESS", "0")
# Keep tests away from the user's real data root, even when one is set.
os.environ["SURVEY2SURVEY_DATA"] = tempfile.mkdtemp(prefix="s2s-test-data-")

FLAGGED = ("slow", "net", "gpu")


def pytest_addoption(parser):
    parser.addoption("--flags", default=os.environ.get("S2S_TEST_FLAGS", ""),
                     help="space-separated test flags to run (slow net gpu): notebook cells and tests carrying them are skipped otherwise")


def forced_flags(config) -> list[str]:
    return config.getoption("--flags").split()


# Tests run in one worker because they share work: their module's fixture (built once per process), or the smoke
# reproduction that `reproduce.ensure`/`figure_step` leave in the session's data root (done once per data root).
SHARED_MODULE_FIXTURE = ("test_distributed.py", "test_docs.py", "test_fetch.py", "test_simulate.py", "test_store.py")
SMOKE_REPRODUCTION = re.compile(r"tests/test_reproduce\.py::|tests/test_notebooks\.py::test_notebook\[(70_reproduce|9\d_\w+)\]")


def xdist_group(item) -> str | None:
    "The pytest-xdist group of a test (`--dist loadgroup`: a group's tests run in one worker), or None."
    if SMOKE_REPRODUCTION.search(item.nodeid): return "smoke-reproduction"
    if item.path.name in SHARED_MODULE_FIXTURE: return item.path.stem
    return None


@pytest.hookimpl(tryfirst=True)   # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    forced = set(forced_flags(config))
    for item in items:
        for flag in FLAGGED:
            if flag in item.keywords and flag not in forced:
                item.add_marker(pytest.mark.skip(reason=f"flag `{flag}` not forced (use --flags {flag})"))
        if group := xdist_group(item): item.add_marker(pytest.mark.xdist_group(group))


# Set by TensorFlow (and the libraries it loads) when first imported, in whatever test that happens: not a leak.
IMPORT_SIDE_EFFECTS = ("TF2_BEHAVIOR", "TPU_ML_PLATFORM", "TPU_ML_PLATFORM_VERSION", "TPU_SKIP_MDS_QUERY", "HDF5_PLUGIN_PATH",
                       "ENABLE_RUNTIME_UPTIME_TELEMETRY")


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
