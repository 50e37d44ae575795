"""Each test starts with fresh auto-names ("dense", not "dense_7"), as after
keras.backend.clear_session()."""
import pytest

from aot.frontends.keras import clear_session


@pytest.fixture(autouse=True)
def _fresh_names():
    clear_session()
    yield
