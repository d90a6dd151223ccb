"""Prometheus metrics of one process: requests by operation and status, their latency, and the
dispatcher's attempts. Gauges of shared state (the outbox) are read from the database when
scraped, so every process reports the same depth."""

import bisect
import functools
import time
from collections import defaultdict

from parley.asgi import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


# The key, in a request scope's state, of the operation that answered it (see api.routing).
OPERATION = "parley.operation"


@functools.cache
def operation_name(handler: str) -> str:
    """`getOrCreateMessage` for the handler `get_or_create_message`."""
    head, *rest = handler.split("_")
    return head + "".join(part.title() for part in rest)


class Metrics:
    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, int], int] = defaultdict(int)
        self.buckets: defaultdict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self.latency_sum: defaultdict[str, float] = defaultdict(float)
        self.attempts: defaultdict[str, int] = defaultdict(int)

    def observe(self, operation: str, status: int, seconds: float) -> None:
        self.requests[(operation, status)] += 1
        self.buckets[operation][bisect.bisect_left(BUCKETS, seconds)] += 1
        self.latency_sum[operation] += seconds

    def attempt(self, outcome: str) -> None:
        self.attempts[outcome] += 1

    def render(self, outbox: dict[str, int]) -> str:
        lines = [
            "# HELP parley_requests_total Requests answered, by operation and HTTP status.",
            "# TYPE parley_requests_total counter",
        ]
        for (operation, status), count in sorted(self.requests.items()):
            lines.append(f'parley_requests_total{{operation="{operation}",status="{status}"}} {count}')
        lines += [
            "# HELP parley_request_seconds Time to answer a request, by operation.",
            "# TYPE parley_request_seconds histogram",
        ]
        for operation, counts in sorted(self.buckets.items()):
            running = 0
            for bound, count in zip((*BUCKETS, float("inf")), counts, strict=True):
                running += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f'parley_request_seconds_bucket{{operation="{operation}",le="{le}"}} {running}')
            lines.append(f'parley_request_seconds_sum{{operation="{operation}"}} {self.latency_sum[operation]}')
            lines.append(f'parley_request_seconds_count{{operation="{operation}"}} {running}')
        lines += [
            "# HELP parley_outbox_deliveries Deliveries not yet made, by status (all processes).",
            "# TYPE parley_outbox_deliveries gauge",
        ]
        for state in ("pending", "in_flight"):
            lines.append(f'parley_outbox_deliveries{{status="{state}"}} {outbox.get(state, 0)}')
        lines += [
            "# HELP parley_delivery_attempts_total Calls to bot and integration servers, by outcome.",
            "# TYPE parley_delivery_attempts_total counter",
        ]
        for outcome, count in sorted(self.attempts.items()):
            lines.append(f'parley_delivery_attempts_total{{outcome="{outcome}"}} {count}')
        return "\n".join(lines) + "\n"


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
