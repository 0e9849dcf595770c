"""A campaign's totals: runs judged and incidents (lost + stuck) per fleet over every seed, with the incident
rate per 1,000 runs and its 95% Wilson score interval (honest at 0 incidents, where the normal approximation
claims a zero-width interval)."""

from __future__ import annotations

import math
from typing import Any

Z95 = 1.959964
FLEET_NAMES = {"on": "guarded", "off": "unguarded"}


def markdown(rows: list[list[str]]) -> str:
    """Rows (the first is the header) as a Markdown table with aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``k / n``.

    :param k: successes (incidents).
    :param n: trials (judged runs), > 0.
    :param z: the normal quantile (1.96: 95%).
    """
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def campaign_table(results: list[Any]) -> str:
    """Totals per fleet of :class:`~airflow_provider_ecsops.testing.race.run.FleetResult` rows."""
    rows = [
        [
            "fleet",
            "seeds",
            "runs",
            "lost",
            "stuck",
            "busy at SIGTERM",
            "resurfaced",
            "stranded",
            "incidents per 1,000 runs (95% CI)",
        ]
    ]
    for fleet in dict.fromkeys(r.fleet for r in results):
        mine = [r for r in results if r.fleet == fleet]
        n = sum(r.expected for r in mine)
        lost, stuck = sum(r.lost for r in mine), sum(r.stuck for r in mine)
        low, high = wilson(lost + stuck, n) if n else (math.nan, math.nan)
        rate = f"{1000 * (lost + stuck) / n:.1f} ({1000 * low:.1f}-{1000 * high:.1f})" if n else "n/a"
        busy = sum(r.busy_at_sigterm for r in mine)
        away = [sum(r.resurfaced for r in mine), sum(r.stranded for r in mine)]
        rows.append(
            [FLEET_NAMES.get(fleet, fleet), str(len(mine)), str(n), str(lost), str(stuck), str(busy)]
            + [str(k) for k in away]
            + [rate]
        )
    return markdown(rows)
