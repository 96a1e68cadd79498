"""Normal clients' throughput while hundreds of clients stall mid-request: the server's read deadline
and connection cap (textclf/serving/connections.py) at work.

    python benchmarks/serve_stalled.py --ckpt RUN_DIR [--stalled 500] [--clients 16] [--seconds 25]
        [--root DIR/sst] [serve overrides ...]

Starts `python -m textclf.serve` on a free loopback port (one thread), then measures the same
normal load twice (``--clients`` clients, one keep-alive connection each, one sentence a request,
as benchmarks/serve_load.py): alone, and while ``--stalled`` connections each send half a request
(half of them stopping inside the headers, half inside the body) and wait. Every stalled
connection the server cuts off (408) is opened again at once, so the attack holds its size for the
whole measurement. ``--seconds`` should exceed the server's ``read_timeout`` (10 s by default), so
that the cut-offs happen inside the measured window. Prints both throughputs, their ratio, how many
408s the stalled clients got, and the size of the server's log. Loopback only; it stops on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import tempfile
from pathlib import Path

from serve_load import level, sentences  # benchmarks/serve_load.py, beside this file

from textclf.serving.process import start_server

HALF_HEADERS = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty"
HALF_BODY = b'POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{"texts": ["a fi'


async def stall(host: str, port: int, sent: bytes, until: float, cut_off: list[int]) -> None:
    """One stalled client, for as long as the attack lasts: connect, send half a request, wait;
    when the server answers and closes, count a 408 and start again."""
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(sent)
            answer = await asyncio.wait_for(reader.read(), max(0.1, until - loop.time()))
            cut_off[0] += answer.startswith(b"HTTP/1.1 408")
            writer.close()
        except (asyncio.TimeoutError, OSError):  # the attack is over, or the server refused the connection
            return


async def under_attack(url: str, texts: list[str], stalled: int, clients: int, seconds: float) -> tuple[dict, int]:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds + 3
    cut_off = [0]
    attackers = [loop.create_task(stall(host, int(port), HALF_HEADERS if i % 2 else HALF_BODY, until, cut_off)) for i in range(stalled)]
    await asyncio.sleep(1)  # every stalled connection open before the measurement starts
    measured = await level(url, texts, clients, 1.0, seconds, "raw")
    await asyncio.gather(*attackers)
    return measured, cut_off[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True, help="checkpoint or run folder to serve")
    parser.add_argument("--root", type=Path, help="the SST folder (stsa.binary.test)")
    parser.add_argument("--stalled", type=int, default=500)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("overrides", nargs="*", help="server settings key=value")
    args = parser.parse_args()
    texts, source = sentences(args.root)
    run_dir = Path(tempfile.mkdtemp(prefix="textclf-serve-stalled-"))
    proc, url = start_server(args.ckpt, run_dir, dict(item.split("=", 1) for item in args.overrides))
    try:
        alone = asyncio.run(level(url, texts, args.clients, 1.0, args.seconds, "raw"))
        attacked, cut_off = asyncio.run(under_attack(url, texts, args.stalled, args.clients, args.seconds))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    log_size = (run_dir / "serve.log").stat().st_size
    print(f"{source} | {args.clients} clients | {os.cpu_count()} CPUs | server settings {args.overrides or 'default'}")
    print(f"alone:                      {alone['rps']:>7,.0f} req/s  p99 {alone['p99']:.1f} ms  errors {alone['errors']}")
    print(f"with {args.stalled} stalled clients: {attacked['rps']:>7,.0f} req/s  p99 {attacked['p99']:.1f} ms  errors {attacked['errors']}")
    print(f"throughput kept: {attacked['rps'] / alone['rps']:.1%} | 408s sent to stalled clients: {cut_off} | "
          f"server log: {log_size:,} bytes")


if __name__ == "__main__":
    main()
