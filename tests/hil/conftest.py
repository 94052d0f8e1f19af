"""HIL fixtures: a real Mosquitto on a free loopback port, a Fleet of firmware processes on
`micropython -X heapsize=...`, and the verifying test subscriber. Everything is stopped in
finalizers, also when a test fails."""

from __future__ import annotations

import pytest

from simulator import Fleet
from tests.hil.subscriber import Subscriber
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.hil


@pytest.fixture
def broker(tmp_path):
    b = Mosquitto(persistence=True, workdir=tmp_path / "broker")
    b.start()
    yield b
    b.cleanup()


@pytest.fixture
def fleet(broker, tmp_path):
    f = Fleet(broker.host, broker.port, root=tmp_path / "fleet")
    yield f
    f.cleanup()


@pytest.fixture
def keys(fleet):
    # live view: devices added later are known to the subscriber too
    class _Keys(dict):
        def __getitem__(self, dev):
            return fleet.devices[dev].public_key

    return _Keys()


@pytest.fixture
def subscriber(broker, keys, tmp_path):
    s = Subscriber(broker.host, broker.port, keys, tmp_path / "blobs")
    yield s
    s.close()
