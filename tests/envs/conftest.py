import pytest


@pytest.fixture(autouse=True)
def _run_in_tmp_dir(tmp_path, monkeypatch):
    """MuJoCo appends compiler warnings (Walker2d-v5's deprecated ``settotalmass``) to
    ``MUJOCO_LOG.TXT`` in the working directory; keep that file out of the repository."""
    monkeypatch.chdir(tmp_path)
