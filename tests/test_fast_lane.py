"""The fast lane (`pytest -m "not slow"`) starts no process: conftest.fast_lane_starts_no_process."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_a_test_outside_the_slow_lane_cannot_start_a_process():
    with pytest.raises(AssertionError, match=r"test_a_test_outside_the_slow_lane_cannot_start_a_process starts a process: mark it @pytest.mark.slow"):
        subprocess.run([sys.executable, "-c", "pass"], check=True)


@pytest.mark.slow
def test_a_slow_test_may():
    assert subprocess.run([sys.executable, "-c", "print('ok')"], capture_output=True, text=True, check=True).stdout == "ok\n"
