"""Fixtures for the metrics tests: the reference implementations (torchreid, fast-reid) loaded by path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


def _reference_helper() -> ModuleType:
    name = "ogfr_tests_metrics_reference"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("reference.py"))
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


_MISSING = "not installed: `pip install --no-deps torchreid==0.2.5 fastreid==1.4.0` (./run setup does it)"


@pytest.fixture(scope="session")
def torchreid_rank() -> ModuleType:
    mod = _reference_helper().torchreid_rank()
    if mod is None:
        pytest.fail(f"torchreid {_MISSING}")
    return mod


@pytest.fixture(scope="session")
def fastreid_rank() -> ModuleType:
    mod = _reference_helper().fastreid_rank()
    if mod is None:
        pytest.fail(f"fast-reid {_MISSING}")
    return mod
