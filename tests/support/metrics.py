"""Reading a Prometheus exposition back: every sample by name and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(exposition: bytes | str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """{(sample name, {(label, value), ...}): value} of a /metrics answer."""
    text = exposition.decode() if isinstance(exposition, bytes) else exposition
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float | None:
    """The sample `name` with exactly these labels, or None when it is not shown."""
    return found.get((name, frozenset(labels.items())))
