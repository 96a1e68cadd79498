"""The loading layer: a checkpoint becomes a model plus the `Encoding` it was trained with, and
checkpoints written before the encoding was stored still load and predict the same."""

from __future__ import annotations

import pytest
import torch

from textclf.data.example import Example
from textclf.data.pipeline import build_source, load_source
from textclf.inference.checkpoint import load_checkpoint, save_checkpoint
from textclf.inference.loader import load_model
from textclf.inference.predictor import model_predictor
from textclf.training.trainer import train

from conftest import compose_train

QUIET = ["trainer.max_epochs=1", "trainer.progress=false", "trainer.tensorboard=false"]
CASES = {
    "memn2n-stories": ["model=memn2n", "data=babi", "data.tasks=[1,6]", "embedding.dim=8", "data.max_memories=7"],
    "bilstm-table": ["model=bilstm", "data=table", "embedding.dim=8", "model.encoder.hidden_size=8", "data.max_tokens=5"],
}


# Its own runs, not conftest's shared ones: encoding settings (max_tokens, max_memories) unlike the data config's.
@pytest.fixture(scope="module", params=sorted(CASES))
def trained(request, tmp_path_factory, babi_dir, table_dir):
    root = babi_dir if request.param.startswith("memn2n") else table_dir
    run_dir = tmp_path_factory.mktemp(request.param)
    cfg = compose_train([*CASES[request.param], f"data.root={root}", *QUIET])
    train(cfg, run_dir)
    return request.param, run_dir / "best.pt", cfg


def legacy_copy(path, tmp_path):
    """The same checkpoint as the layout before the encoding was stored (no "encoding" entry)."""
    payload = load_checkpoint(path)
    payload.pop("encoding")
    old = tmp_path / "old.pt"
    save_checkpoint(old, payload)
    return old


def test_the_encoding_comes_from_training_not_from_the_data_config(trained):
    name, path, cfg = trained
    encoding = load_model(path).encoding
    assert encoding.max_tokens == cfg.data.max_tokens
    if name.startswith("memn2n"):
        assert encoding.stories and encoding.memory is not None and encoding.memory.max_memories == 7
    else:
        assert not encoding.stories and encoding.memory is None


def test_an_old_layout_checkpoint_loads_with_the_same_encoding_and_probabilities(trained, tmp_path):
    name, path, cfg = trained
    new, old = load_model(path), load_model(legacy_copy(path, tmp_path))
    assert old.encoding.settings() == new.encoding.settings()
    assert old.labels == new.labels
    examples = load_source(build_source(cfg.data)).split("test")
    probs = [model_predictor(m, 16).proba(m.encoding.encode(examples, "test")) for m in (new, old)]
    assert torch.equal(torch.from_numpy(probs[0]), torch.from_numpy(probs[1]))


def test_new_input_is_encoded_without_a_dataset_reader(trained, monkeypatch):
    name, path, _ = trained
    loaded = load_model(path)
    import textclf.inference.loader as loader

    monkeypatch.setattr(loader, "build_source", lambda cfg: pytest.fail("a dataset reader was built"))
    if loaded.encoding.stories:
        example = Example(text="Where is Mary?", label="", context=("Mary went to the kitchen.",))
    else:
        example = Example(text="a fine film with a long text that is cut", label="")
    encoded = loaded.encoding.encode([example], "input", labelled=False)
    assert int(encoded.lengths.max()) <= loaded.encoding.max_tokens
    prob = model_predictor(loaded, 1).proba(encoded)
    assert prob.shape == (1, len(loaded.labels)) and abs(float(prob.sum()) - 1.0) < 1e-5
