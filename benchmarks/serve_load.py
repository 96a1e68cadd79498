"""Load on `python -m textclf.serve`: requests/s and latency for single-sentence requests.

    python benchmarks/serve_load.py --ckpt RUN_DIR [--root DIR/sst] [--concurrency 1,16,64]
        [--seconds 10] [--warmup 2] [--client raw|httpx] [--url http://127.0.0.1:PORT] [serve overrides ...]

Starts the server on a free loopback port (`num_threads=1` unless overridden; any other
`key=value` goes to the server, e.g. `batch_wait_ms=0 runtime=onnx`), or uses a running one
(``--url``). Then, for each concurrency level, that many clients (asyncio tasks in this process,
one keep-alive connection each) each send one request after another, ``{"texts": [one
sentence]}``, for ``--warmup`` seconds unmeasured and ``--seconds`` measured. ``--client raw``
(the default) speaks HTTP/1.1 over asyncio streams in a few lines; ``--client httpx`` uses one
`httpx.AsyncClient`, whose own cost per request (~1 ms of CPU here) caps the load it can make on
a two-core machine well below what the server answers, so it measures mostly itself.
Sentences are SST-2's test sentences (``--root``, the folder of stsa.binary.test) or, without
them, made-up ones. Every answer must be a 200 whose text is the one sent. Prints requests/s,
p50/p99/max latency per level and the throughput of the highest level over the lowest; loopback
only, and it stops on its own (the server with it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import tempfile
from pathlib import Path

import httpx

from textclf.serving.process import start_server


def sentences(root: Path | None, count: int = 2000) -> tuple[list[str], str]:
    test = root / "stsa.binary.test" if root else None
    if test is not None and test.is_file():
        lines = [line.split(" ", 1)[1].strip() for line in test.read_text(encoding="utf-8").splitlines() if " " in line]
        return lines, f"SST-2 test sentences ({len(lines)})"
    rng = random.Random(0)
    words = "the a film plot cast is was very quite good bad dull lovely moving flat story and".split()
    return [" ".join(rng.choices(words, k=rng.randint(5, 30))) for _ in range(count)], "made-up sentences (no --root)"


class RawClient:
    """One keep-alive HTTP/1.1 connection: POST a body, read the status line, headers and body."""

    def __init__(self, url: str) -> None:
        self.host, self.port = url.split("//", 1)[1].rsplit(":", 1)
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, int(self.port))
        reader, writer = self.streams
        writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        length = next(int(line.split(":", 1)[1]) for line in head if line.lower().startswith("content-length:"))
        return int(head[0].split()[1]), await reader.readexactly(length)

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()


class HttpxClient:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        response = await self.client.post(path, content=body, headers={"content-type": "application/json"})
        return response.status_code, response.content

    async def close(self) -> None:
        pass


async def level(url: str, texts: list[str], clients: int, warmup: float, seconds: float, kind: str) -> dict:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as shared:
        loop = asyncio.get_running_loop()
        start = loop.time()
        measure_from, stop_at = start + warmup, start + warmup + seconds

        async def one_client(offset: int) -> None:
            nonlocal errors
            client = RawClient(url) if kind == "raw" else HttpxClient(shared)
            i = offset
            while (now := loop.time()) < stop_at:
                text = texts[i % len(texts)]
                i += clients
                status, body = await client.post("/predict", json.dumps({"texts": [text]}).encode())
                done = loop.time()
                ok = status == 200 and json.loads(body)["predictions"][0]["text"] == text
                if now >= measure_from and done <= stop_at:
                    if ok:
                        latencies.append(done - now)
                    else:
                        errors += 1
            await client.close()

        await asyncio.gather(*(one_client(k) for k in range(clients)))
    latencies.sort()

    def pct(p: float) -> float:
        return 1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else float("nan")

    return {"clients": clients, "requests": len(latencies), "errors": errors, "rps": len(latencies) / seconds,
            "p50": pct(0.50), "p99": pct(0.99), "max": 1000 * latencies[-1] if latencies else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", help="checkpoint or run folder to serve (not with --url)")
    parser.add_argument("--url", help="a running server instead")
    parser.add_argument("--root", type=Path, help="the SST folder (stsa.binary.test)")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    parser.add_argument("overrides", nargs="*", help="server settings key=value (num_threads=1 unless given)")
    args = parser.parse_args()
    if bool(args.ckpt) == bool(args.url):
        parser.error("give --ckpt (start a server) or --url (use a running one)")
    texts, source = sentences(args.root)
    settings = dict(item.split("=", 1) for item in args.overrides)
    proc, url = start_server(args.ckpt, tempfile.mkdtemp(prefix="textclf-serve-load-"), settings) if args.ckpt else (None, args.url)
    try:
        meta = httpx.get(f"{url}/metadata").json()
        print(f"{meta['model']} ({meta['runtime']}) | {args.client} client | {source} | server settings {args.overrides or 'default'} | "
              f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), load average {os.getloadavg()[0]:.1f} at start")
        results = [asyncio.run(level(url, texts, int(c), args.warmup, args.seconds, args.client)) for c in args.concurrency.split(",")]
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    print(f"{'clients':>8} {'requests':>9} {'errors':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for r in results:
        print(f"{r['clients']:>8} {r['requests']:>9} {r['errors']:>7} {r['rps']:>8,.0f} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['max']:>8.1f}")
    print(f"throughput at {results[-1]['clients']} clients / at {results[0]['clients']}: {results[-1]['rps'] / results[0]['rps']:.1f}x | "
          f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
