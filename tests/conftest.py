"""Shared test setup: deterministic seeds, and the verifier after every pass (AOT_DEBUG)."""
import os

import numpy as np
import pytest

os.environ.setdefault("TVM_FFI_DISABLE_TORCH_C_DLPACK", "1")
os.environ.setdefault("AOT_DEBUG", "1")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
