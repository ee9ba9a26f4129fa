"""The `media_upload` scenario: what an image upload costs, and what it costs everyone else.

- processing: a 12-megapixel JPEG (4000 x 3000, about 3 MB) through media/images.py, in a
  fresh process each time: the time, and the peak memory it adds (ru_maxrss past what the
  process held before);
- while uploads run: UPLOADERS clients post that JPEG to POST /api/v1/media without pause,
  while wrk reads user profiles (GraphQL) from the same API process; the reads per second and
  their p99, beside the same reads with no upload running. Processing runs in threads of its
  own, at most MEDIA_THREADS at once, so the reads must not stall.
"""

from __future__ import annotations

import io
import multiprocessing
import resource
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from bench.harness import LoadResult, metric, server
from bench.scenarios import Users, user_profile
from core.security import TokenCodec

SIZE = (4000, 3000)
UPLOADERS = 2
RUNS = 3


@dataclass
class MediaResult:
    backend: str
    megapixels: float
    jpeg_bytes: int
    process_ms: float  # the median of RUNS, each in a fresh process
    process_peak_mb: float  # what processing added to the process's peak resident memory
    reads_per_second_alone: float
    reads_p99_ms_alone: float
    reads_per_second_uploading: float
    reads_p99_ms_uploading: float
    uploads_per_second: float
    upload_p50_ms: float
    upload_errors: int
    server_rss_mb_after: float


def photo() -> bytes:
    """A 12-megapixel JPEG that compresses like a photograph: gradients and grain."""
    width, height = SIZE
    red = Image.linear_gradient("L").resize(SIZE)
    green = Image.radial_gradient("L").resize(SIZE)
    grain = Image.effect_noise(SIZE, 40)
    out = io.BytesIO()
    Image.merge("RGB", (red, green, grain)).save(out, "JPEG", quality=85)
    return out.getvalue()


def _process_once(path: str) -> tuple[float, float]:
    """In a fresh process: (milliseconds, MB added to the peak resident memory)."""
    from media import images

    data = Path(path).read_bytes()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    images.process(io.BytesIO(data))
    elapsed = (time.perf_counter() - started) * 1000
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return elapsed, (peak - before) / 1024


def processing(data: bytes) -> tuple[float, float]:
    """The median time and the largest peak of RUNS runs, each in a fresh process."""
    with tempfile.NamedTemporaryFile(suffix=".jpg") as file:
        file.write(data)
        file.flush()
        spawn = multiprocessing.get_context("spawn")
        runs = []
        for _ in range(RUNS):
            with spawn.Pool(1) as pool:
                runs.append(pool.apply(_process_once, (file.name,)))
    return statistics.median(ms for ms, _ in runs), max(mb for _, mb in runs)


class _Uploaders:
    """Threads posting the image again and again until stopped."""

    def __init__(self, url: str, authorization: str, data: bytes) -> None:
        self.url, self.authorization, self.data = url, authorization, data
        self.latencies: list[float] = []
        self.errors = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(UPLOADERS)]

    def _run(self) -> None:
        headers = {"Authorization": self.authorization}
        with httpx.Client(base_url=self.url, timeout=60) as http:
            while not self._stop.is_set():
                started = time.perf_counter()
                files = {"file": ("photo.jpg", self.data, "image/jpeg")}
                response = http.post("/api/v1/media", headers=headers, files=files)
                if response.status_code == 201:
                    self.latencies.append((time.perf_counter() - started) * 1000)
                else:
                    self.errors += 1

    def __enter__(self) -> _Uploaders:
        self.started = time.perf_counter()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self.seconds = time.perf_counter() - self.started


def run(
    backend: str,
    env: dict[str, str],
    users: Users,
    tokens: TokenCodec,
    *,
    seconds: float,
    connections: int,
) -> MediaResult:
    data = photo()
    process_ms, peak_mb = processing(data)
    reads = user_profile(users, connections)
    with (
        tempfile.TemporaryDirectory(prefix="bench-media-") as media_dir,
        server("app:create_app", env | {"MEDIA_DIR": media_dir}) as url,
    ):
        reads.ours(url, 1)  # warm
        alone: LoadResult = reads.ours(url, seconds)
        authorization = f"Bearer {tokens.issue(users.ids[0])}"
        with _Uploaders(url, authorization, data) as uploads:
            during: LoadResult = reads.ours(url, seconds)
        rss = metric(url, "process_resident_memory_bytes") / 2**20
    done: list[Any] = uploads.latencies
    return MediaResult(
        backend=backend,
        megapixels=SIZE[0] * SIZE[1] / 1e6,
        jpeg_bytes=len(data),
        process_ms=process_ms,
        process_peak_mb=peak_mb,
        reads_per_second_alone=alone.throughput,
        reads_p99_ms_alone=alone.p99_ms,
        reads_per_second_uploading=during.throughput,
        reads_p99_ms_uploading=during.p99_ms,
        uploads_per_second=len(done) / uploads.seconds,
        upload_p50_ms=statistics.median(done) if done else 0.0,
        upload_errors=uploads.errors,
        server_rss_mb_after=rss,
    )
