import pytest

from provchain.devnet.cluster import Cluster


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path / "net", n=4, app="note")
    c.start_all()
    yield c
    c.stop_all()
