"""Meta-World tests need the optional package (CI installs it: .ci/run); generated splits go to
a folder of the test session, so no test reads a cache an earlier run left behind."""

import pytest

pytest.importorskip("metaworld", reason="Meta-World is not installed (README: Meta-World)")


@pytest.fixture(scope="session", autouse=True)
def split_cache(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("metarl-cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("METARL_CACHE_DIR", str(folder))
    yield folder
    patch.undo()
