"""/healthz, /readyz and /metrics: for load balancers, orchestrators and Prometheus."""

import asyncio

from parley.api.common import DATABASE_UNAVAILABLE, respond, services
from parley.api.routing import Answer, Call, get
from parley.metrics import METRICS

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
            await conn.fetch_value("SELECT 1")
    except DATABASE_UNAVAILABLE as error:
        return respond({"status": "unavailable", "reason": f"database: {type(error).__name__}"}, 503)
    return respond({"status": "ready"})


@get("/metrics")
async def metrics(request: Call) -> Answer:
    async with services(request).db.connection() as conn:
        rows = await conn.fetch_all(
            "SELECT status, COUNT(*) AS n FROM deliveries WHERE status IN ('pending', 'in_flight') GROUP BY status"
        )
    outbox = {row["status"]: int(row["n"]) for row in rows}
    return Answer(METRICS.render(outbox), content_type=b"text/plain; version=0.0.4; charset=utf-8")


operations = [healthz, readyz, metrics]
