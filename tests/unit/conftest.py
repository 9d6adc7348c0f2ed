"""Fixtures shared by the unit tests: the whole service tree on a fake
clock, with a fake MediaMTX API and fake keep-alive readers."""
import pytest

from camservice.config import load_config
from helpers.harness import make_harness


@pytest.fixture
def harness(write_config, clock):
    config = load_config(
        write_config(
            {
                "server": {"rate_limit": {"requests_per_second": 0}},
                "cameras": {
                    "declared": [
                        {"id": "camera1000", "kind": "virtual", "resolution": "320x240", "fps": 10},
                        {"id": "camera1001", "kind": "network", "url": "rtsp://127.0.0.1:9/x"},
                    ]
                },
            }
        )
    )
    harness = make_harness(config, clock)
    yield harness
    harness.stop()
