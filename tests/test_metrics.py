"""Metrics counted per process and handed to prometheus-client in batches expose what one
prometheus-client call per request would have."""

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from parley.metrics import BUCKETS, Metrics

# Bounds included: a value equal to a bucket's bound counts in that bucket.
SECONDS = [0.0004, 0.001, 0.003, 0.003, 0.25, 7.0, 12.0]


def _samples(text: bytes, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted((k, v) for k, v in sample.labels.items() if k != "operation")): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
        if sample.name == name and sample.labels.get("operation", "batched") == "batched"
    }


def test_a_batch_of_observations_exposes_as_single_observations_do() -> None:
    metrics = Metrics()
    for seconds in SECONDS:
        metrics.observe("batched", 200, seconds)
    reference = CollectorRegistry()
    histogram = Histogram("parley_request_seconds", "reference", buckets=BUCKETS, registry=reference)
    for seconds in SECONDS:
        histogram.observe(seconds)
    expected = generate_latest(reference)

    exposed = metrics.render({})
    for suffix in ("_bucket", "_count", "_sum"):
        name = "parley_request_seconds" + suffix
        assert _samples(exposed, name) == _samples(expected, name)
    requests = _samples(exposed, "parley_requests_total")
    assert requests == {(("status", "200"),): len(SECONDS)}
    # What was handed over is not handed over again.
    assert metrics.render({}) == exposed
