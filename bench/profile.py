"""Where the time goes in a scenario (`timeline_read`, `user_profile`, or `baseline`:
`{ __typename }`):
py-spy samples the API process under wrk load.

    .venv/bin/python -m bench.profile [--users 10000] [--seconds 15] [--top 5] [--backend ...]
        [--scenario timeline_read|user_profile|baseline]

Runs on the machine's PostgreSQL + Redis when they answer, else on the embedded servers (or on
the one --backend names), with
the dataset `make bench` uses. Prints the functions where samples land (own time) and the
functions on the stack (total time), each as a share of all samples.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

from bench.datasets import dataset
from bench.harness import server
from bench.run import SECRET, answers, api_env, backend_urls
from bench.scenarios import baseline, sample_users, timeline_read, user_profile
from core.security import TokenCodec


def _collapsed(path: Path) -> Counter[tuple[str, ...]]:
    """py-spy's raw output: one line per stack, frames joined by ';', then the sample count."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if frames:
            stacks[tuple(frames.split(";"))] += int(count)
    return stacks


def top_frames(stacks: Counter[tuple[str, ...]], top: int) -> tuple[list[tuple[str, float]], ...]:
    """The top frames by own time, by total time (leaving out the frames under nearly every
    sample: the event loop and server entry points), and own time summed by package."""
    total = sum(stacks.values()) or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    for frames, count in stacks.items():
        own[frames[-1]] += count
        packages[_package(frames[-1])] += count
        for frame in set(frames):
            inclusive[frame] += count
    for frame, count in list(inclusive.items()):
        if count >= 0.75 * total:
            del inclusive[frame]
    return tuple(
        [(f, n / total) for f, n in c.most_common(top)] for c in (own, inclusive, packages)
    )


def _package(frame: str) -> str:
    """'execute (graphql/execution/execute.py:120)' -> 'graphql'."""
    path = frame.rpartition("(")[2].split(":")[0]
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    return path.split("/", 1)[0] if "/" in path else path.removesuffix(".py")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--backend", choices=["embedded", "services"])
    parser.add_argument(
        "--scenario",
        choices=["timeline_read", "user_profile", "baseline"],
        default="timeline_read",
    )
    args = parser.parse_args()
    name = args.backend or ("services" if answers(5432) and answers(6379) else "embedded")
    with backend_urls(name) as urls:
        database_url = asyncio.run(dataset(urls[0], args.users))
        sample = asyncio.run(sample_users(database_url, 500))
        tokens = TokenCodec.for_secret(SECRET, ttl_seconds=3600)
        if args.scenario == "baseline":
            scenario = baseline(connections=32)
        elif args.scenario == "user_profile":
            scenario = user_profile(sample, connections=32)
        else:
            scenario = timeline_read(sample, tokens, connections=32)
        with server("app:create_app", api_env(database_url, urls[1], args.users)) as url:
            pid = _pid(url)
            scenario.ours(url, 3)  # warm-up: timelines rebuilt, statements prepared
            raw = Path(tempfile.mkstemp(prefix="timeline-profile-", suffix=".txt")[1])
            load = threading.Thread(target=scenario.ours, args=(url, args.seconds + 2))
            load.start()
            subprocess.run(
                [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid)]
                + ["--duration", str(int(args.seconds)), "--format", "raw", "--output", str(raw)],
                check=True,
                capture_output=True,
            )
            load.join()
    own, inclusive, packages = top_frames(_collapsed(raw), args.top)
    print(f"{args.scenario} on {name}, {args.users:,} users: py-spy samples of the API process")
    sections = (("own time", own), ("total time", inclusive), ("own time, by package", packages))
    for title, rows in sections:
        print(f"\ntop {args.top} by {title}:")
        for frame, share in rows:
            print(f"  {share:6.1%}  {frame}")


def _pid(url: str) -> int:
    """The pid of the uvicorn process listening on `url`'s port."""
    port = url.rsplit(":", 1)[1]
    found = subprocess.run(
        ["pgrep", "-f", f"uvicorn app:create_app --factory --port {port}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(found.stdout.split()[0])


if __name__ == "__main__":
    main()
