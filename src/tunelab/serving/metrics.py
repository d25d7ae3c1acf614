"""Prometheus metrics, one registry per app (tests can run several apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 24, 32, 48, 64, 128, 256)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("tunelab_requests", "HTTP requests by route and status",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("tunelab_request_latency_seconds", "Request latency by route",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.predict_requests = Counter("tunelab_predict_requests", "Predict requests per model version and key",
                                        ["model", "version", "key"], registry=r)
        self.predict_texts = Counter("tunelab_predict_texts", "Texts predicted per model version and key",
                                     ["model", "version", "key"], registry=r)
        self.predict_latency = Histogram("tunelab_predict_latency_seconds",
                                         "Predict latency (queue + model + log) per model version",
                                         ["model", "version"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("tunelab_batch_size", "Texts per forward pass", ["model", "version"],
                                    buckets=BATCH_BUCKETS, registry=r)
        self.errors = Counter("tunelab_errors", "Error responses by code and key", ["code", "key"], registry=r)
        self.feedback = Counter("tunelab_feedback", "Feedback items per model version",
                                ["model", "version"], registry=r)
        self.models_loaded = Gauge("tunelab_models_loaded", "Model versions in memory", registry=r)
        self.shadow_texts = Counter("tunelab_shadow_texts", "Live texts for a shadow challenger by outcome: scored, "
                                    "failed or dropped (too much shadow work waiting)", ["model", "version", "outcome"],
                                    registry=r)
        self.queued = Gauge("tunelab_batcher_queued", "Requests waiting for a batch", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
