"""The server's micro-batcher (textclf/serving/batcher.py): requests batched together, answered apart."""

from __future__ import annotations

import asyncio

import numpy as np

from textclf.data.example import Example
from textclf.serving.batcher import MicroBatcher


def scorer(calls: list[int]):
    def score(examples):
        calls.append(len(examples))
        if any(ex.text == "bad" for ex in examples):
            raise ValueError("the tokenizer cannot read this")
        return np.array([[len(ex.text), 1.0] for ex in examples], dtype=np.float32)

    return score


async def submit_together(batcher: MicroBatcher, texts: list[list[str]]):
    requests = [batcher.submit([Example(text, "") for text in request]) for request in texts]
    try:
        return await asyncio.gather(*requests, return_exceptions=True)
    finally:
        await batcher.close()


def test_requests_are_scored_together_and_answered_in_order():
    calls: list[int] = []
    answers = asyncio.run(submit_together(MicroBatcher(scorer(calls), 16, wait=0.2), [["a", "bb"], ["ccc"]]))
    assert calls == [3]  # one batch
    assert [a[:, 0].tolist() for a in answers] == [[1.0, 2.0], [3.0]]


def test_one_bad_input_fails_only_its_own_request():
    calls: list[int] = []
    answers = asyncio.run(submit_together(MicroBatcher(scorer(calls), 16, wait=0.2), [["a"], ["bad", "bb"], ["ccc"]]))
    assert calls == [4, 1, 2, 1]  # the batch failed; each request was then scored alone
    assert answers[0][:, 0].tolist() == [1.0] and answers[2][:, 0].tolist() == [3.0]
    assert isinstance(answers[1], ValueError)


def test_a_lone_request_that_fails_gets_its_error():
    calls: list[int] = []
    answers = asyncio.run(submit_together(MicroBatcher(scorer(calls), 16, wait=0.0), [["bad"]]))
    assert calls == [1] and isinstance(answers[0], ValueError) and "cannot read" in str(answers[0])
