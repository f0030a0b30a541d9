"""Shared pytest setup: the opt-in ``--e2e`` flag for tests that need a real cluster; the suite tests the
Python modules, not a compiled build of them (``tests/test_native.py`` holds the two to the same bytes)."""

from __future__ import annotations

import os

import pytest

os.environ["KUBETWIN_NATIVE"] = "0"  # before anything imports models or sim (models/native.py)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--e2e", action="store_true", default=False,
                     help="run tests marked e2e against the cluster of the current kubeconfig")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--e2e"):
        return
    skip = pytest.mark.skip(reason="needs --e2e and a kubeconfig")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)
