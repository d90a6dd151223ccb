"""/healthz, /readyz and /metrics: for load balancers, orchestrators and Prometheus."""

import asyncio

from parley.api.common import respond, services
from parley.api.routing import Answer, Call, get
from parley.metrics import METRICS
from parley.store import deliveries
from parley.store.database import DatabaseError, ping

READY_TIMEOUT_SECONDS = 2.0


@get("/healthz")
async def healthz(_: Call) -> Answer:
    """The process is up and answering; says nothing about the database."""
    return respond({"status": "ok"})


@get("/readyz")
async def readyz(request: Call) -> Answer:
    """Ready to serve: the database answers a query in time (503 otherwise)."""
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS), services(request).db.connection() as conn:
            await ping(conn)
    except (DatabaseError, TimeoutError) as error:
        # Named after what the driver raised (a refused connection, a timeout), when it did.
        failure = error.__cause__ if isinstance(error, DatabaseError) and error.__cause__ else error
        return respond({"status": "unavailable", "reason": f"database: {type(failure).__name__}"}, 503)
    return respond({"status": "ready"})


@get("/metrics")
async def metrics(request: Call) -> Answer:
    async with services(request).db.connection() as conn:
        outbox = await deliveries.unfinished_counts(conn)
    return Answer(METRICS.render(outbox), content_type=b"text/plain; version=0.0.4; charset=utf-8")


operations = [healthz, readyz, metrics]
