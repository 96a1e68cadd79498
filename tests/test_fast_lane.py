"""The fast lane (`pytest -m "not slow"`) starts no process: conftest.fast_lane_starts_no_process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def test_a_test_outside_the_slow_lane_cannot_start_a_process():
    with pytest.raises(AssertionError, match=r"test_a_test_outside_the_slow_lane_cannot_start_a_process starts a process: mark it @pytest.mark.slow"):
        subprocess.run([sys.executable, "-c", "pass"], check=True)


@pytest.mark.slow
def test_a_slow_test_may():
    assert subprocess.run([sys.executable, "-c", "print('ok')"], capture_output=True, text=True, check=True).stdout == "ok\n"


def test_nor_can_a_module_fixture_that_a_fast_test_uses(pytester):
    """A trained run or a server set up once per module is started by the first test that needs it:
    in the fast lane, that test is held to the rule (an error at set-up, naming it)."""
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(test_uses_a_process="""
        import subprocess
        import sys

        import pytest

        @pytest.fixture(scope="module")
        def started():
            return subprocess.run([sys.executable, "-c", "pass"]).returncode

        def test_fast(started):
            pass
    """)
    result = pytester.runpytest_inprocess("-m", "not slow", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*test_uses_a_process.py::test_fast starts a process: mark it @pytest.mark.slow*"])
