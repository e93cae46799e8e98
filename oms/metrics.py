"""The node's Prometheus metrics, in one registry of its own (not the process-global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = [
    "DB_WRITE_SECONDS",
    "HTTP_REQUESTS",
    "HTTP_REQUEST_SECONDS",
    "JOBS_QUEUED",
    "REGISTRY",
]

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "oms_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_REQUEST_SECONDS = Histogram(
    "oms_http_request_duration_seconds",
    "Time from request start to the end of the response, by route template.",
    ["route", "method"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DB_WRITE_SECONDS = Histogram(
    "oms_db_write_transaction_seconds",
    "Duration of write transactions, from BEGIN IMMEDIATE to COMMIT, lock wait included.",
    registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
JOBS_QUEUED = Gauge(
    "oms_jobs_pending",
    "Durable background jobs waiting or running, by kind.",
    ["kind", "state"],
    registry=REGISTRY,
)
