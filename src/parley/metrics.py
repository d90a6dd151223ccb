"""Prometheus metrics: requests by operation and status, their latency, and the dispatcher's
attempts, summed over every process of a `parley serve --workers N` run by prometheus-client's
multiprocess mode; gauges of shared state (the outbox) are read from the database when scraped."""

import bisect
import functools
import os
import time
from collections import defaultdict
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from parley.asgi import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# The directory where each process of a run writes its values (prometheus-client's name). Like
# prometheus-client, which picks where values live when it is imported, this module reads it once.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
_SHARED_DIR = os.environ.get(MULTIPROCESS_DIR)
# How often a process hands its counts to prometheus-client, and so how old another process's
# counts in a scrape can be.
FLUSH_SECONDS = 1.0

# The key, in a request scope's state, of the operation that answered it (see api.routing).
OPERATION = "parley.operation"

# A `_created` series per label set is noise here, and multiprocess mode leaves it out anyway.
# (prometheus-client leaves this function and MultiProcessCollector without type hints.)
disable_created_metrics()  # type: ignore[no-untyped-call]
_REGISTRY = CollectorRegistry()
_REQUESTS = Counter(
    "parley_requests", "Requests answered, by operation and HTTP status.", ["operation", "status"], registry=_REGISTRY
)
_LATENCY = Histogram(
    "parley_request_seconds",
    "Time to answer a request, by operation.",
    ["operation"],
    buckets=BUCKETS,
    registry=_REGISTRY,
)
_ATTEMPTS = Counter(
    "parley_delivery_attempts", "Calls to bot and integration servers, by outcome.", ["outcome"], registry=_REGISTRY
)
_STREAMS = Gauge(
    "parley_chat_streams",
    "Chat API streams open (summed over the processes).",
    multiprocess_mode="livesum",
    registry=_REGISTRY,
)


@functools.cache
def operation_name(handler: str) -> str:
    """`getOrCreateMessage` for the handler `get_or_create_message`."""
    head, *rest = handler.split("_")
    return head + "".join(part.title() for part in rest)


class Metrics:
    """This process's counts since they were last handed to prometheus-client (`flush`). Counting
    here costs about 0.2 µs a request; prometheus-client's multiprocess values cost about 4.5 µs
    (a lock and an mmap write for each of the counter, the bucket and the sum), 5 % of a request."""

    def __init__(self) -> None:
        self._requests: defaultdict[tuple[str, int], int] = defaultdict(int)
        self._buckets: defaultdict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self._latency_sum: defaultdict[str, float] = defaultdict(float)
        self._attempts: defaultdict[str, int] = defaultdict(int)

    def observe(self, operation: str, status: int, seconds: float) -> None:
        self._requests[(operation, status)] += 1
        self._buckets[operation][bisect.bisect_left(BUCKETS, seconds)] += 1
        self._latency_sum[operation] += seconds

    def attempt(self, outcome: str) -> None:
        self._attempts[outcome] += 1

    def streams(self, change: int) -> None:
        """Counts Chat API streams opened (1) and closed (-1); rare enough to count at once."""
        _STREAMS.inc(change)

    def flush(self) -> None:
        requests, self._requests = self._requests, defaultdict(int)
        buckets, self._buckets = self._buckets, defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        latency_sum, self._latency_sum = self._latency_sum, defaultdict(float)
        attempts, self._attempts = self._attempts, defaultdict(int)
        for (operation, status), count in requests.items():
            _REQUESTS.labels(operation, str(status)).inc(count)
        for operation, counts in buckets.items():
            histogram = _LATENCY.labels(operation)
            # prometheus-client has no call that adds many observations at once. Its bucket values
            # count each bucket alone (made cumulative when exposed), in BUCKETS order then +Inf,
            # as `counts` does; the pinned version keeps these attributes.
            for value, count in zip(histogram._buckets, counts, strict=True):
                if count:
                    value.inc(count)
            histogram._sum.inc(latency_sum[operation])
        for outcome, count in attempts.items():
            _ATTEMPTS.labels(outcome).inc(count)

    async def run(self) -> float:
        """The background loop's job: every process flushes, so that a scrape of any process
        sees the others' counts at most FLUSH_SECONDS old."""
        self.flush()
        return FLUSH_SECONDS

    def render(self, outbox: dict[str, int]) -> bytes:
        """The text exposition: this process's counts up to now and, in multiprocess mode, every
        process's as of its last flush; then the outbox depth (`outbox`, by status)."""
        self.flush()
        source = _REGISTRY
        if _SHARED_DIR is not None:
            source = CollectorRegistry()
            MultiProcessCollector(source, path=_SHARED_DIR)  # type: ignore[no-untyped-call]
        return generate_latest(source) + generate_latest(_Outbox(outbox))


class _Outbox:
    """The outbox depth as a gauge: one value for all processes, read from the database."""

    def __init__(self, depth: dict[str, int]) -> None:
        self._depth = depth

    def collect(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily(
            "parley_outbox_deliveries", "Deliveries not yet made, by status (all processes).", labels=["status"]
        )
        for status in ("pending", "in_flight"):
            gauge.add_metric([status], self._depth.get(status, 0))
        yield gauge


METRICS = Metrics()


def measure(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: counts and times every routed request under its operation's name."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_status)
        finally:
            METRICS.observe(scope.get("state", {}).get(OPERATION, "unrouted"), status, time.perf_counter() - started)

    return middleware
