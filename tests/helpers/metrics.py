"""Reading a hub's Prometheus metrics in tests: one scrape as a dict of samples."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

Sample = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str, token: str | None = None) -> Sample:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.get(url, headers=headers, timeout=5)
    answer.raise_for_status()
    assert answer.headers["content-type"].startswith("text/plain")
    out: Sample = {}
    for family in text_string_to_metric_families(answer.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(sample: Sample, name: str, **labels: str) -> float:
    return sample[(name, tuple(sorted(labels.items())))]
