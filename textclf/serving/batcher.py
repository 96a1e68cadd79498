"""Micro-batching: requests that arrive together are scored as one batch, off the event loop.

One text costs a recurrent model nearly as much Python and kernel-launch overhead as a batch of
fifty, so a server that scores each request alone caps out at the model's single-row speed.
`MicroBatcher.submit` queues a request's examples; one worker task takes the first queued request,
adds whatever else arrives within ``wait`` seconds (or until ``max_examples`` are gathered), and
scores them in one call on a single inference thread, so the event loop keeps accepting requests
meanwhile. While a batch is being scored the next one gathers in the queue, so batches grow with
the load on their own: one client gets one-text batches, sixty-four get batches of dozens.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from textclf.data.example import Example

log = logging.getLogger("textclf.serve")


@dataclass
class Pending:
    examples: Sequence[Example]
    future: asyncio.Future


class MicroBatcher:
    """Batches `submit` calls for ``score`` (examples -> probabilities [N, C], rows in order)."""

    def __init__(self, score: Callable[[Sequence[Example]], np.ndarray], max_examples: int, wait: float) -> None:
        self.score = score
        self.max_examples = max_examples
        self.wait = wait
        self.queue: asyncio.Queue[Pending] | None = None
        self.worker: asyncio.Task | None = None
        # One thread: the model runs one batch at a time, and a second would only contend for the cores.
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="textclf-inference")

    async def submit(self, examples: Sequence[Example]) -> np.ndarray:
        """The probabilities of ``examples``, scored together with whatever else is queued."""
        if self.worker is None:  # started in the serving loop, on first use
            self.queue = asyncio.Queue()
            self.worker = asyncio.get_running_loop().create_task(self.run())
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(Pending(examples, future))
        return await future

    async def gather(self) -> list[Pending]:
        """The first waiting request, and those that arrive within the window, up to a full batch."""
        assert self.queue is not None
        batch = [await self.queue.get()]
        count = len(batch[0].examples)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait
        while count < self.max_examples:
            if self.queue.empty():
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), left))
                except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11 on
                    break
            else:
                batch.append(self.queue.get_nowait())
            count += len(batch[-1].examples)
        return batch

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self.gather()
            examples = [ex for pending in batch for ex in pending.examples]
            try:
                prob = await loop.run_in_executor(self.pool, self.score, examples)
            except Exception as err:  # the model's failure is these requests' answer, not the server's end
                if len(batch) == 1:
                    log.exception("scoring a request of %d inputs failed", len(examples))
                    settle(batch[0], error=err)
                else:  # one request's bad input must not fail the others batched with it: each alone
                    for pending in batch:
                        await self.score_alone(pending)
                continue
            start = 0
            for pending in batch:
                end = start + len(pending.examples)
                settle(pending, prob[start:end])
                start = end

    async def score_alone(self, pending: Pending) -> None:
        try:
            prob = await asyncio.get_running_loop().run_in_executor(self.pool, self.score, pending.examples)
        except Exception as err:
            log.exception("scoring a request of %d inputs failed", len(pending.examples))
            settle(pending, error=err)
        else:
            settle(pending, prob)

    async def close(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            try:
                await self.worker
            except asyncio.CancelledError:
                pass
        self.pool.shutdown(wait=True)


def settle(pending: Pending, prob: np.ndarray | None = None, error: Exception | None = None) -> None:
    """Answer one request, unless its client went away (which cancelled its future)."""
    if pending.future.done():
        return
    if error is not None:
        pending.future.set_exception(error)
    else:
        pending.future.set_result(prob)
