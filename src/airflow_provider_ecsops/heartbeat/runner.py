"""Run probes concurrently, each bounded by its own timeout."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence

from airflow_provider_ecsops.heartbeat.probes import Probe, ProbeResult


def run_probes(probes: Sequence[Probe]) -> list[ProbeResult]:
    """
    Run every probe in its own thread and wait for each up to its timeout, counted after its
    :meth:`~Probe.prepare` (imports).

    A probe that overruns is reported as timed out; its daemon thread is abandoned (Python cannot kill
    a thread) but cannot delay the verdict or the task's exit. Network probes also pass their timeout
    to the socket / botocore so such threads end on their own.

    :param probes: the probes, in the order results are returned.
    """
    for probe in probes:
        with contextlib.suppress(Exception):  # check() meets the same error and reports it, masked
            probe.prepare()
    outcomes: dict[int, ProbeResult] = {}
    started: list[tuple[Probe, threading.Thread, float]] = []
    for index, probe in enumerate(probes):
        thread = threading.Thread(
            target=lambda i=index, p=probe: outcomes.__setitem__(i, p.run()),
            name=f"heartbeat-probe-{probe.name}",
            daemon=True,
        )
        started.append((probe, thread, time.monotonic()))
        thread.start()
    results = []
    for index, (probe, thread, start) in enumerate(started):
        thread.join(max(0.0, start + probe.timeout - time.monotonic()))
        result = outcomes.get(index)
        if result is None:
            result = ProbeResult(
                probe.name, False, round(probe.timeout * 1000, 3), f"timed out after {probe.timeout:g}s"
            )
        results.append(result)
    return results
