"""Parallel jobs sharing a data folder take turns (textclf/core/locks.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from textclf.data.generated import GeneratedBabi

# Each process generates the same folder through GeneratedBabi.load, with write_dataset wrapped to
# claim a marker file exclusively while inside and to linger there: two processes inside at once
# would collide on the marker and fail.
CHILD = textwrap.dedent(
    """
    import os, sys, time
    from textclf.data import babi_gen
    from textclf.data.generated import GeneratedBabi

    real = babi_gen.write_dataset
    def guarded(root, *args):
        marker = os.path.join(root, "inside")
        fd = os.open(marker, os.O_CREAT | os.O_EXCL)  # FileExistsError if another job is inside
        time.sleep(0.5)
        try:
            return real(root, *args)
        finally:
            os.close(fd)
            os.remove(marker)
    babi_gen.write_dataset = guarded
    splits = GeneratedBabi(root=sys.argv[1], tasks="all", n_train=40, n_test=20).load()
    print(len(splits.train))
    """
)


@pytest.mark.slow
def test_two_jobs_generating_one_folder_take_turns(tmp_path):
    root = tmp_path / "babi_gen"
    jobs = [subprocess.Popen([sys.executable, "-c", CHILD, str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [job.communicate(timeout=120) for job in jobs]
    for job, (out, err) in zip(jobs, outputs):
        assert job.returncode == 0, err[-2000:]
    assert outputs[0][0] == outputs[1][0]  # both read the same, complete data
    reference = GeneratedBabi(root=str(tmp_path / "alone"), tasks="all", n_train=40, n_test=20).load()
    assert int(outputs[0][0]) == len(reference.train)
