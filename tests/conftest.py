"""Shared pytest setup.

Notebook cells and tests flagged `slow`, `net` or `gpu` are skipped unless forced:
`pytest --flags "slow net"` (or `S2S_TEST_FLAGS="slow"`).
"""
import os
import tempfile

import pytest

# Quiet defaults for test runs; set before anything imports TensorFlow.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SURVEY2SURVEY_PROGRESS", "0")
# Keep tests away from the user's real data root.
os.environ.setdefault("SURVEY2SURVEY_DATA", tempfile.mkdtemp(prefix="s2s-test-data-"))

FLAGGED = ("slow", "net", "gpu")


def pytest_addoption(parser):
    parser.addoption("--flags", default=os.environ.get("S2S_TEST_FLAGS", ""),
                     help="space-separated test flags to run (slow net gpu): notebook cells and tests carrying them are skipped otherwise")


def forced_flags(config) -> list[str]:
    return config.getoption("--flags").split()


def pytest_collection_modifyitems(config, items):
    forced = set(forced_flags(config))
    for item in items:
        for flag in FLAGGED:
            if flag in item.keywords and flag not in forced:
                item.add_marker(pytest.mark.skip(reason=f"flag `{flag}` not forced (use --flags {flag})"))
