"""
The metrics buffer behind `observability.metric()`: aws-lambda-powertools' Metrics, which
writes CloudWatch's embedded metric format (one JSON line on stdout per flush, up to 100
metrics each; several values of one metric travel as a list and CloudWatch sums them).

One buffer per process, guarded by a lock: the site's development server answers requests
in threads, and a flush may carry another thread's counts, which is harmless (each count
goes out exactly once, under the same dimensions).
"""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_metrics = None  # powertools Metrics, built on first use
_enabled: bool | None = None


def _settings():
    from django.conf import settings

    return settings


def enabled() -> bool:
    global _enabled
    if _enabled is None:
        try:
            value = bool(getattr(_settings(), "METRICS_ENABLED", True))
        except Exception:  # Django's settings cannot load (a handler failing at set-up): no metrics
            return False
        _enabled = value
    return _enabled


def _buffer():
    global _metrics
    if _metrics is None:
        from aws_lambda_powertools.metrics import Metrics

        settings = _settings()
        # service="" (not None): Powertools would otherwise add a `service` dimension from
        # POWERTOOLS_SERVICE_NAME, and the alarms in infra/aws/stack.yaml match the
        # dimension set exactly (Stage, Function).
        buffer = Metrics(namespace=settings.METRICS_NAMESPACE, service="")
        buffer.set_default_dimensions(Stage=settings.STAGE, Function=settings.FUNCTION_ROLE)
        _metrics = buffer
    return _metrics


def add(name: str, value: float, unit: str) -> None:
    if not enabled():
        return
    with _lock:
        # Powertools checks the name, the unit and the value, and raises on a bad one.
        _buffer().add_metric(name=name, unit=unit, value=value)


def flush(ids: dict) -> None:
    if not enabled() or _metrics is None:
        return
    with _lock:
        if not _metrics.metric_set:
            return  # nothing counted: no line at all (Powertools would warn)
        try:
            for key, value in ids.items():
                # Metadata, not dimensions: the EMF line says which request it came from
                # without multiplying the metrics CloudWatch keeps (and bills).
                _metrics.add_metadata(key=key, value=value)
            _metrics.flush_metrics()
        except Exception:
            # Flushing runs as an invocation ends: it must not replace the answer (or the
            # error) of the work it measured. Lost counts are logged.
            logger.exception("Metrics could not be written; dropped")
            _metrics.clear_metrics()


def reset() -> None:
    """Forget the buffer and the settings read (tests and benchmarks that change them)."""
    global _metrics, _enabled
    with _lock:
        if _metrics is not None:
            # Powertools keeps these per class, not per instance: a new buffer would find them.
            _metrics.clear_default_dimensions()
            _metrics.clear_metrics()
        _metrics = None
        _enabled = None
