import pytest

from aot.driver import compile as compile_model

from .graphs import two_input_graph


@pytest.fixture(scope="session")
def built_artifact(tmp_path_factory):
    """One compiled artifact for the session; tests copy it before changing anything."""
    path = tmp_path_factory.mktemp("built") / "tiny.aot"
    compile_model(two_input_graph(), output=path)
    return path


@pytest.fixture
def artifact(built_artifact, tmp_path):
    """A private copy of the compiled artifact."""
    import shutil

    return shutil.copytree(built_artifact, tmp_path / "tiny.aot")
