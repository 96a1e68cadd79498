"""A data.root that exists but is not a readable folder is named for what it is, for every reader:
never "does not exist" for something that exists, never a traceback (a link loop used to end in
pathlib's RuntimeError)."""

from __future__ import annotations

import pytest

from textclf.core.errors import TextclfError
from textclf.data.pipeline import build_source, load_source

from conftest import compose_train

DATASETS = ["babi_gen", "babi", "sst2", "sst5", "mr", "subj", "trec", "imdb", "table"]


def odd_roots(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("not a folder\n")
    (tmp_path / "loop_a").symlink_to(tmp_path / "loop_b")
    (tmp_path / "loop_b").symlink_to(tmp_path / "loop_a")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    return {
        afile: "is a file, not a folder",
        tmp_path / "loop_a": "is a loop of symbolic links",
        tmp_path / "dangling": "is a broken symbolic link",
    }


@pytest.mark.parametrize("data", DATASETS)
def test_an_odd_data_root_is_named_for_what_it_is(data, tmp_path):
    for root, what in odd_roots(tmp_path).items():
        source = build_source(compose_train([f"data={data}", f"data.root={root}"]).data)
        with pytest.raises(TextclfError) as caught:
            load_source(source)
        assert what in str(caught.value) and str(root) in str(caught.value), str(caught.value)
        assert "does not exist" not in str(caught.value)
