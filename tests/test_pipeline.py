"""Vocabulary, flat sequences and length-bucketed batching."""

from __future__ import annotations

import pytest
import torch

from textclf.core.errors import TextclfError
from textclf.data.batching import BatchIterator
from textclf.data.encoding import encode_examples, flat_sequence
from textclf.data.example import Example
from textclf.data.pipeline import group_names, training_texts
from textclf.data.vocab import PAD_ID, SEP_ID, UNK_ID, Vocab


def test_vocab_specials_lowercase_and_unknown_words():
    vocab = Vocab.fit(["Mary went to the kitchen.", "Where is Mary?"])
    assert vocab.tokenizer.token_to_id("<pad>") == PAD_ID
    assert vocab.tokenizer.token_to_id("<unk>") == UNK_ID
    assert vocab.tokenizer.token_to_id("<sep>") == SEP_ID
    assert vocab.tokenize("MARY went to the Kitchen.") == ["mary", "went", "to", "the", "kitchen", "."]
    ids = vocab.encode_many(["mary zebra"])[0]
    assert ids[1] == UNK_ID and ids[0] not in (PAD_ID, UNK_ID)


def test_vocab_keeps_ptb_clitics_whole():
    vocab = Vocab.fit(["it 's a film that does n't work"])
    assert vocab.tokenize("it 's n't") == ["it", "'s", "n't"]


def test_vocab_min_freq_and_max_size():
    texts = ["a a a b b c"]
    assert set(Vocab.fit(texts, min_freq=2).tokenizer.get_vocab()) == {"<pad>", "<unk>", "<sep>", "a", "b"}
    assert set(Vocab.fit(texts, max_size=1).tokenizer.get_vocab()) == {"<pad>", "<unk>", "<sep>", "a"}
    with pytest.raises(TextclfError, match="min_freq"):
        Vocab.fit(texts, min_freq=0)


def test_vocab_json_round_trip():
    vocab = Vocab.fit(["the cat sat", "the dog ran"])
    again = Vocab.from_json(vocab.to_json())
    assert again.encode_many(["the dog sat"]) == vocab.encode_many(["the dog sat"])
    with pytest.raises(TextclfError, match="tokenizer"):
        Vocab.from_json("{not json")


def test_flat_sequence_keeps_question_and_recent_story_when_truncated():
    story = [[10, 11], [12, 13], [14, 15]]
    assert flat_sequence(story, [20, 21], SEP_ID, 100) == [10, 11, 12, 13, 14, 15, SEP_ID, 20, 21]
    assert flat_sequence(story, [20, 21], SEP_ID, 5) == [14, 15, SEP_ID, 20, 21]
    assert flat_sequence([], [1, 2, 3, 4], SEP_ID, 2) == [1, 2]  # single text keeps its start


def _examples():
    return [
        Example("where is mary ?", "kitchen", ("mary went to the kitchen .",), group="qa1"),
        Example("where is john ?", "garden", ("john went to the garden .", "mary left ."), group="qa1"),
        Example("is mary in the garden ?", "no", ("mary went to the kitchen .",), group="qa6"),
        Example("", "no", (), group="qa6"),
    ]


def test_encode_examples_builds_padded_tensors():
    examples = _examples()
    vocab = Vocab.fit(training_texts(examples))
    labels = ["garden", "kitchen", "no"]
    encoded = encode_examples(examples, vocab, labels, group_names(examples), max_tokens=50)
    assert encoded.tokens.shape[0] == 4
    assert encoded.labels.tolist() == [1, 0, 2, 2]
    assert encoded.group.tolist() == [0, 0, 1, 1]
    assert encoded.lengths.tolist()[3] == 1  # empty text: one padding token, never length 0
    for row, length in zip(encoded.tokens, encoded.lengths):
        assert (row[length:] == PAD_ID).all()
    assert SEP_ID in encoded.tokens[0].tolist()


def test_encode_examples_rejects_unknown_label_with_message():
    examples = _examples()
    vocab = Vocab.fit(training_texts(examples))
    with pytest.raises(TextclfError, match="'no'.*not trained on"):
        encode_examples(examples, vocab, ["garden", "kitchen"], [], max_tokens=50, split_name="test")


def test_group_names_natural_order():
    examples = [Example("q", "a", group=g) for g in ("qa10", "qa2", "qa1")]
    assert group_names(examples) == ["qa1", "qa2", "qa10"]


def _encoded(n=300):
    generator = torch.Generator().manual_seed(0)
    texts = [" ".join(["w%d" % int(i) for i in torch.randint(0, 30, (int(k),), generator=generator)])
             for k in torch.randint(1, 40, (n,), generator=generator)]
    examples = [Example(t, str(i % 3)) for i, t in enumerate(texts)]
    vocab = Vocab.fit(texts)
    return encode_examples(examples, vocab, ["0", "1", "2"], [], max_tokens=64)


def test_batches_cover_every_example_once_and_trim_padding():
    split = _encoded()
    seen = []
    for batch in BatchIterator(split, batch_size=32, shuffle=True, seed=1):
        assert batch.tokens.shape[1] == int(batch.lengths.max())  # trimmed to the batch's longest
        assert torch.equal(batch.labels, split.labels[batch.index])
        seen.extend(batch.index.tolist())
    assert sorted(seen) == list(range(len(split)))


def test_bucketing_reduces_padding_and_is_reproducible():
    split = _encoded()

    def padding(iterator):
        return sum(int(b.tokens.numel() - b.lengths.sum()) for b in iterator)

    bucketed = padding(BatchIterator(split, 32, shuffle=True, seed=1))
    unbucketed = padding(BatchIterator(split, 32, shuffle=True, seed=1, pool_batches=1))
    assert bucketed < unbucketed
    first = [b.index.tolist() for b in BatchIterator(split, 32, shuffle=True, seed=7)]
    again = [b.index.tolist() for b in BatchIterator(split, 32, shuffle=True, seed=7)]
    assert first == again
    iterator = BatchIterator(split, 32, shuffle=True, seed=7)
    epoch1 = [b.index.tolist() for b in iterator]
    epoch2 = [b.index.tolist() for b in iterator]
    assert epoch1 != epoch2  # a new order each epoch


def test_memories_from_story_and_from_single_text():
    from textclf.data.memory import memories_and_query

    story = [[1], [2], [3], [4]]
    memories, query = memories_and_query(story, [9, 9], max_memories=3, window=2)
    assert memories == [[2], [3], [4]] and query == [9, 9]  # the most recent sentences
    memories, query = memories_and_query([], [5, 6, 7, 8, 9], max_memories=2, window=2)
    assert memories == [[5, 6], [7, 8]] and query == []  # windows of the text, learned query


def test_memory_tensors_and_batches():
    from textclf.data.encoding import MemoryLayout

    examples = _examples()
    vocab = Vocab.fit(training_texts(examples))
    encoded = encode_examples(examples, vocab, ["garden", "kitchen", "no"], group_names(examples), 50,
                              memory=MemoryLayout(max_memories=50, window=3))
    assert encoded.memory.dtype == torch.int32
    assert encoded.memory_lengths.tolist() == [1, 2, 1, 0]
    assert encoded.query_lengths.tolist() == [4, 4, 6, 0]
    second_story = vocab.encode_many(["john went to the garden .", "mary left ."])
    assert encoded.memory[1, 0, :6].tolist() == second_story[0]
    assert encoded.memory[1, 1, :3].tolist() == second_story[1]
    batch = next(iter(BatchIterator(encoded, batch_size=2)))  # eval order: shortest first
    assert batch.memory.dtype == torch.long
    assert batch.memory.shape[1] == max(1, int(batch.memory_lengths.max()))
    assert torch.equal(batch.query[:, : batch.query.shape[1]], encoded.query[batch.index, : batch.query.shape[1]])


def test_drop_punctuation_keeps_clitics():
    vocab = Vocab.fit(["Is Mary in the kitchen? it 's n't , ok."], drop_punctuation=True)
    assert vocab.tokenize("Is Mary in the kitchen? it 's n't , ok.") == ["is", "mary", "in", "the", "kitchen", "it", "'s", "n't", "ok"]


def test_memory_models_get_a_word_for_every_answer(tmp_path):
    # yes/no answers (task 6) never occur in a story or question: without the labels in the vocabulary
    # they would all be <unk>, and a tied answer layer (W^T = C^K) could not tell them apart.
    from textclf.data.generated import GeneratedBabi
    from textclf.data.pipeline import prepare

    def answer_ids(with_memory):
        data = prepare(GeneratedBabi(root=str(tmp_path), tasks=[6], n_train=60, n_test=30), with_memory=with_memory)
        return {label: ids for label, ids in zip(data.labels, data.vocab.encode_many(data.labels))}

    assert all(UNK_ID not in ids for ids in answer_ids(True).values())
    flat = answer_ids(False)
    assert flat["yes"] == [UNK_ID] and flat["no"] == [UNK_ID]  # flat models keep the text-only vocabulary


def test_labels_of_several_words_get_a_token_of_their_own():
    """Scored by the mean of their words, "n,w" and "w,n" would get the same logits from a tied
    answer layer; each gets its own row instead, and every word keeps its id."""
    vocab = Vocab.fit(["Mary went north then west", "she took the apple and the football"], drop_punctuation=True)
    labels = ["n,w", "w,n", "apple", "apple,football"]
    words_before = vocab.encode_many(["north west apple football"])
    assert vocab.label_ids(labels)[0] == vocab.label_ids(labels)[1]  # the clash, before answer tokens
    size = len(vocab)
    vocab.add_answer_tokens(labels)
    ids = vocab.label_ids(labels)
    assert ids[2] == vocab.encode_many(["apple"])[0]  # a one-word answer stays the word (W^T = C^K)
    own = [ids[0], ids[1], ids[3]]
    assert all(len(i) == 1 and i[0] >= size for i in own) and len({i[0] for i in own}) == 3
    assert len(vocab) == size + 3
    assert vocab.encode_many(["north west apple football"]) == words_before
    assert Vocab.from_json(vocab.to_json()).label_ids(labels) == ids  # what checkpoints rebuild


def test_memory_pipeline_adds_answer_tokens_for_list_answers(tmp_path):
    from textclf.data.generated import GeneratedBabi
    from textclf.data.pipeline import prepare

    data = prepare(GeneratedBabi(root=str(tmp_path), tasks=[8], n_train=200, n_test=30), with_memory=True)
    several = [label for label in data.labels if "," in label]
    assert several, "task 8 asks for lists"
    ids = data.vocab.label_ids(data.labels)
    assert len({tuple(i) for i in ids}) == len(data.labels)  # every class scored through its own row(s)
    flat = prepare(GeneratedBabi(root=str(tmp_path), tasks=[8], n_train=200, n_test=30), with_memory=False)
    assert all(len(i) > 1 for label, i in zip(flat.labels, flat.vocab.label_ids(flat.labels)) if "," in label)
