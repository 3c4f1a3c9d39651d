"""The gateway's Prometheus metrics (``GET /metrics``), with prometheus-client.

Labels are bounded by the config: ``alias`` is one of its aliases (``""`` for a request that
named none of them), ``deployment`` one of its deployments' labels, ``endpoint`` one of the
gateway's routes and ``status`` an HTTP status. Nothing a caller sends becomes a label.
``key`` (``llmrouter_gateway_key_requests`` only) is a virtual key's id from the store, one
series per key in use: the key itself never becomes a label.

With several workers (``[gateway] workers > 1``) each worker is its own process, so the
counters go through prometheus-client's multiprocess mode: ``llmrouter serve`` sets
``PROMETHEUS_MULTIPROC_DIR`` to a fresh directory before the workers start and ``/metrics``
sums the workers' files.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

#: Seconds; from a cache hit (a millisecond) to a long generation (minutes).
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    """One registry of the gateway's series; ``render()`` is the ``/metrics`` body."""

    def __init__(self) -> None:
        self._multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.requests = Counter(
            "llmrouter_gateway_requests",
            "Requests answered, by endpoint, alias and HTTP status.",
            ("endpoint", "alias", "status"),
            registry=reg,
        )
        self.errors = Counter(
            "llmrouter_gateway_errors",
            "Error answers (and errors inside a started stream), by endpoint, alias and code.",
            ("endpoint", "alias", "code"),
            registry=reg,
        )
        self.latency = Histogram(
            "llmrouter_gateway_request_duration_seconds",
            "Time from the request to the end of the answer (a stream's last event).",
            ("endpoint", "alias"),
            buckets=_BUCKETS,
            registry=reg,
        )
        self.tokens = Counter(
            "llmrouter_gateway_tokens",
            "Tokens the providers reported, by alias, deployment and kind (prompt, completion).",
            ("alias", "deployment", "kind"),
            registry=reg,
        )
        self.cost = Counter(
            "llmrouter_gateway_cost_usd",
            "Cost in USD of the answered calls (where a price is known; docs/cost.md).",
            ("alias", "deployment"),
            registry=reg,
        )
        self.key_requests = Counter(
            "llmrouter_gateway_key_requests",
            "Requests made with a virtual key, by the key's id (never the key), endpoint and "
            "HTTP status.",
            ("key", "endpoint", "status"),
            registry=reg,
        )
        gauge_mode: Any = {"multiprocess_mode": "livesum"} if self._multiprocess else {}
        self.in_flight = Gauge(
            "llmrouter_gateway_in_flight_requests",
            "Requests being answered now.",
            registry=reg,
            **gauge_mode,
        )
        # Labelled children, looked up once per label set: ``labels()`` costs more than the
        # increment itself.
        self._answered: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._failed: dict[tuple[str, str, str], Any] = {}
        self._usage: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
        self._keyed: dict[tuple[str, str, int], Any] = {}

    def answered(self, endpoint: str, alias: str, status: int, seconds: float) -> None:
        key = (endpoint, alias, status)
        children = self._answered.get(key)
        if children is None:
            children = self._answered[key] = (
                self.requests.labels(endpoint, alias, str(status)),
                self.latency.labels(endpoint, alias),
            )
        children[0].inc()
        children[1].observe(seconds)

    def key_answered(self, key_id: str, endpoint: str, status: int) -> None:
        label = (key_id, endpoint, status)
        child = self._keyed.get(label)
        if child is None:
            child = self._keyed[label] = self.key_requests.labels(key_id, endpoint, str(status))
        child.inc()

    def failed(self, endpoint: str, alias: str, code: str | None) -> None:
        key = (endpoint, alias, code or "error")
        child = self._failed.get(key)
        if child is None:
            child = self._failed[key] = self.errors.labels(*key)
        child.inc()

    def usage(self, alias: str, info: Any, usage: Any) -> None:
        """Tokens and cost of one answered call (``info`` is its ``CallInfo``)."""
        deployment = (getattr(info, "deployment", None) or "") if info is not None else ""
        key = (alias, deployment)
        children = self._usage.get(key)
        if children is None:
            children = self._usage[key] = (
                self.tokens.labels(alias, deployment, "prompt"),
                self.tokens.labels(alias, deployment, "completion"),
                self.cost.labels(alias, deployment),
            )
        if usage is not None:
            prompt = getattr(usage, "prompt_tokens", None)
            completion = getattr(usage, "completion_tokens", None)
            if prompt:
                children[0].inc(prompt)
            if completion:
                children[1].inc(completion)
        cost = getattr(info, "cost", None) if info is not None else None
        if isinstance(cost, Decimal) and cost > 0:
            children[2].inc(float(cost))

    def render(self) -> bytes:
        if self._multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
