"""The race report's three faces: a console table, JSON for automation, and an HTML page with an SVG timeline."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from airflow_provider_ecsops.replication.classify import CLASSES, SlotResult, Tally, tallies
from airflow_provider_ecsops.replication.schedule import RaceSchedule

COLOURS = {
    "completed": "#4caf50",
    "lost": "#d32f2f",
    "stuck": "#ff9800",
    "failed": "#8e24aa",
    "never_scheduled": "#9e9e9e",
    "running": "#2196f3",
}
NO_WORKER = "(no worker)"
AXIS_TICKS = 4
HEADERS = ("expected", *CLASSES, "incidence")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def to_json(
    race_schedule: RaceSchedule, results: Sequence[SlotResult], since: datetime, until: datetime
) -> dict:
    """The report as a JSON-ready dict: schedule table, window, tallies and one entry per slot."""
    groups = tallies(results)
    slots = []
    for r in results:
        obs = r.observation
        slots.append(
            {
                "dag_id": r.dag.dag_id,
                "wave": r.dag.wave,
                "offset": r.dag.offset,
                "slot": _iso(r.slot),
                "class": r.cls,
                "reason": r.reason,
                "run_id": obs.run_id if obs else None,
                "state": obs.state if obs else None,
                "queued_at": _iso(obs.queued_at) if obs else None,
                "start": _iso(obs.start) if obs else None,
                "end": _iso(obs.end) if obs else None,
                "pid": obs.pid if obs else None,
                "worker": r.worker,
                "ecs_task_arn": r.ecs_task_arn,
                "expected_seconds": r.expected_seconds,
            }
        )
    return {
        "schedule": race_schedule.table(),
        "window": {"since": _iso(since), "until": _iso(until)},
        "tallies": {group: {k: t.as_dict() for k, t in items.items()} for group, items in groups.items()},
        "slots": slots,
    }


def _table(title: str, rows: dict[str, Tally]) -> list[str]:
    width = max([len(title), *map(len, rows)])
    lines = [f"{title:<{width}}  " + "  ".join(f"{h:>9}" for h in HEADERS)]
    for key, tally in rows.items():
        d = tally.as_dict()
        cells = [f"{d[h]:>9}" for h in HEADERS[:-1]] + [f"{d['incidence']:>9.1%}"]
        lines.append(f"{key:<{width}}  " + "  ".join(cells))
    return lines


def to_console(results: Sequence[SlotResult], since: datetime, until: datetime) -> str:
    """Incidence per DAG and per offset, then one line per incident."""
    groups = tallies(results)
    lines = [
        f"Scale-down race report: {len(results)} slots from {since.isoformat()} to {until.isoformat()}",
        "",
    ]
    lines += [*_table("dag_id", groups["dag"]), "", *_table("offset", groups["offset"])]
    lines += ["", *_table("set", groups["all"])]
    incidents = [r for r in results if r.cls in ("lost", "stuck")]
    if incidents:
        lines += ["", "Incidents:"]
        lines += [
            f"  {r.cls:<6} {r.dag.dag_id} {r.slot.isoformat()} worker={r.worker or '-'} "
            f"ecs_task={r.ecs_task_arn or '-'}: {r.reason}"
            for r in incidents
        ]
    return "\n".join(lines)


def _bar_span(r: SlotResult) -> tuple[datetime, datetime]:
    obs = r.observation
    start = (obs.start if obs else None) or r.slot
    end = (obs.end if obs else None) or start + timedelta(seconds=r.expected_seconds)
    return start, max(end, start)


def _lanes(results: Sequence[SlotResult]) -> dict[str, list[list[SlotResult]]]:
    """Per worker, rows of non-overlapping bars (greedy packing), so concurrent runs stay visible."""
    lanes: dict[str, list[list[SlotResult]]] = {}
    for r in sorted(results, key=lambda r: _bar_span(r)[0]):
        rows = lanes.setdefault(r.worker or NO_WORKER, [])
        start = _bar_span(r)[0]
        for row in rows:
            if _bar_span(row[-1])[1] <= start:
                row.append(r)
                break
        else:
            rows.append([r])
    return dict(sorted(lanes.items(), key=lambda kv: (kv[0] == NO_WORKER, kv[0])))


def timeline_svg(results: Sequence[SlotResult], width: int = 1400) -> str:
    """Inline SVG: one lane per worker, one bar per slot, coloured by class, with a hover title."""
    if not results:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="30"><text x="4" y="20">no slots</text></svg>'
    spans = [_bar_span(r) for r in results]
    t0, t1 = min(s for s, _ in spans), max(e for _, e in spans)
    total = max((t1 - t0).total_seconds(), 1.0)
    label_w, row_h, top = 220, 16, 30
    plot_w = width - label_w - 10

    def x(when: datetime) -> float:
        return label_w + (when - t0).total_seconds() / total * plot_w

    parts, y = [], top
    for worker, rows in _lanes(results).items():
        lane_h = row_h * len(rows)
        parts.append(f'<g class="lane" data-worker="{html.escape(worker)}">')
        parts.append(f'<rect x="0" y="{y}" width="{width}" height="{lane_h}" fill="#f5f5f5" stroke="#ddd"/>')
        parts.append(f'<text x="4" y="{y + 12}" font-size="11">{html.escape(worker[:34])}</text>')
        for i, row in enumerate(rows):
            for r in row:
                start, end = _bar_span(r)
                title = f"{r.dag.dag_id} {r.slot.isoformat()} {r.cls}: {r.reason}"
                parts.append(
                    f'<rect class="bar {r.cls}" x="{x(start):.1f}" y="{y + i * row_h + 2}" '
                    f'width="{max(x(end) - x(start), 2):.1f}" height="{row_h - 4}" fill="{COLOURS[r.cls]}">'
                    f"<title>{html.escape(title)}</title></rect>"
                )
        parts.append("</g>")
        y += lane_h
    axis = [f'<line x1="{label_w}" y1="20" x2="{width - 10}" y2="20" stroke="#333"/>']
    for i in range(AXIS_TICKS + 1):
        when = t0 + (t1 - t0) * i / AXIS_TICKS
        anchor = "start" if i == 0 else "end" if i == AXIS_TICKS else "middle"
        axis.append(
            f'<line x1="{x(when):.1f}" y1="20" x2="{x(when):.1f}" y2="{y}" stroke="#ccc" stroke-dasharray="2,3"/>'
            f'<text x="{x(when):.1f}" y="14" font-size="11" text-anchor="{anchor}">'
            f"{when.isoformat(timespec='seconds')}</text>"
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width}" height="{y + 10}" '
        f'font-family="sans-serif">{"".join(parts + axis)}</svg>'
    )


def _html_table(title: str, rows: dict[str, Tally]) -> str:
    head = "".join(f"<th>{h}</th>" for h in (title, *HEADERS))
    body = "".join(
        "<tr><td>{}</td>{}<td>{:.1%}</td></tr>".format(
            html.escape(key), "".join(f"<td>{t.as_dict()[h]}</td>" for h in HEADERS[:-1]), t.incidence
        )
        for key, t in rows.items()
    )
    return f'<table class="tally {title}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def to_html(results: Sequence[SlotResult], since: datetime, until: datetime) -> str:
    """A self-contained page: legend, SVG timeline by worker, tallies per DAG and per offset."""
    groups = tallies(results)
    legend = "".join(
        f'<span class="key"><svg width="12" height="12"><rect width="12" height="12" fill="{c}"/></svg> {k}</span>'
        for k, c in COLOURS.items()
    )
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Scale-down race report</title>
<style>body{{font-family:sans-serif;margin:16px}} table{{border-collapse:collapse;margin:8px 0 16px}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}} td:first-child{{text-align:left}}
.key{{margin-right:14px}}</style></head>
<body><h1>Scale-down race report</h1>
<p>{len(results)} slots from {html.escape(since.isoformat())} to {html.escape(until.isoformat())}.
Incidence = (lost + stuck) / settled slots.</p>
<div class="legend">{legend}</div>
<h2>Timeline by worker</h2>
{timeline_svg(results)}
<h2>Per DAG</h2>{_html_table("dag_id", groups["dag"])}
<h2>Per offset</h2>{_html_table("offset", groups["offset"])}
<h2>Whole set</h2>{_html_table("set", groups["all"])}
</body></html>
"""


def write_json(path: str, report: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
