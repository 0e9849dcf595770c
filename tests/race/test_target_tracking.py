"""The race lab's target-tracking rule (Application Auto Scaling's semantics), pure: no stack, no clock; and the
autoscaler's metric period against a metadata DB."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

from airflow_provider_ecsops.scalein.demand import Demand, QueueDemand
from airflow_provider_ecsops.scalein.demand_publish import demand_per_worker
from airflow_provider_ecsops.testing.fake_ecs_agent import FakeEcsAgent
from airflow_provider_ecsops.testing.race.target_tracking import TargetTracking, TargetTrackingAutoscaler
from airflow_provider_ecsops.testing.scalein_metadb import (
    create_airflow_tables,
    fresh_database,
    insert_task_instances,
)

PERIOD = 60.0


def _rule(**overrides) -> TargetTracking:
    settings = {
        "min_capacity": 1,
        "max_capacity": 10,
        "disable_scale_in": False,
        "scale_out_cooldown": 60.0,
        "scale_in_cooldown": 300.0,
    }
    return TargetTracking(**(settings | overrides))


def _feed(rule: TargetTracking, desired: int, metrics: list[float], start: float = 0.0) -> list[int]:
    """Desired count after each period, the policy's output fed back as the next period's capacity."""
    out = []
    for i, metric in enumerate(metrics):
        desired = rule.evaluate(start + i * PERIOD, metric, desired)
        out.append(desired)
    return out


def _demand(queued: int, running: int) -> Demand:
    return Demand((QueueDemand("default", 0, queued, running, 0.0),), concurrency=1, at=datetime.now(UTC))


def test_scale_out_waits_for_three_datapoints_above_the_target_then_sets_the_required_workers():
    rule = _rule()
    desired = 2
    metric = demand_per_worker(_demand(queued=4, running=2), desired)  # 6 required on 2 workers: 3.0
    assert _feed(rule, desired, [metric] * 3) == [2, 2, 6]


def test_one_period_below_the_target_restarts_the_high_alarms_count():
    assert _feed(_rule(), 2, [3.0, 3.0, 1.0, 3.0, 3.0]) == [2, 2, 2, 2, 2]


def test_with_scale_in_disabled_the_policy_never_lowers_the_desired_count():
    rule = _rule(disable_scale_in=True)
    assert _feed(rule, 6, [0.0] * 40) == [6] * 40


def test_without_self_retire_scale_in_needs_fifteen_low_datapoints_and_respects_its_cooldown():
    rule = _rule(scale_in_cooldown=300.0)
    # 6 desired, 3 required (0.5 per worker, below 90 % of 1.0) for 20 periods: in at the 15th, to 3.
    desired = _feed(rule, 6, [0.5] * 15)
    assert desired[:14] == [6] * 14 and desired[14] == 3
    # Now 1 required on 3 workers: the low alarm still holds, but the cooldown blocks the next scale-in for 5 periods.
    later = _feed(rule, 3, [1 / 3] * 6, start=15 * PERIOD)
    assert later == [3, 3, 3, 3, 1, 1]


def test_within_the_scale_out_cooldown_only_a_larger_scale_out_happens():
    rule = _rule(scale_out_cooldown=180.0)
    assert _feed(rule, 2, [2.0, 2.0, 2.0]) == [2, 2, 4]
    # Still above target at 4 (5 required): 5 > 4, larger than the last scale-out's 4, so it happens in cooldown.
    assert rule.evaluate(3 * PERIOD, 5 / 4, 4) == 5
    # A scale-out to a count no larger than the last one's waits out the cooldown.
    assert rule.evaluate(4 * PERIOD, 5 / 4, 4) == 4
    assert rule.evaluate(4 * PERIOD + 180.0, 5 / 4, 4) == 5


def test_the_desired_count_stays_within_min_and_max():
    assert _feed(_rule(max_capacity=4), 2, [10.0] * 3)[-1] == 4
    assert _feed(_rule(min_capacity=2), 5, [0.0] * 15)[-1] == 2


def test_demand_on_an_empty_service_reads_above_the_target():
    assert demand_per_worker(_demand(queued=3, running=0), desired=0) == 3.0
    assert demand_per_worker(_demand(queued=0, running=0), desired=3) == 0.0


def test_the_metric_period_reads_the_demand_of_the_fleets_own_queue(postgres_url, tmp_path):
    # The race DAGs run on the fleet's queue (ecsops-race-<lab>-<fleet>), not on "default": a metric read on
    # another queue stays at 0 and the policy never scales out (a 1-period run read 0 with 7 tasks waiting).
    url = fresh_database("ecsops_tt_period_test", postgres_url.rsplit("/", 1)[0])
    create_airflow_tables(url)
    queue = "ecsops-race-lab-on"
    insert_task_instances(url, [(queue, "queued")] * 3 + [(queue, "running")] + [("default", "queued")] * 5)
    stack = SimpleNamespace(guarded=True, db_url=url, queue=queue, agent=FakeEcsAgent(), worker_env={})
    scaler = TargetTrackingAutoscaler(stack, 3.0, 1.5, 1, tmp_path / "events.jsonl")
    scaler.service.desired_count = 2
    try:
        scaler.period(0.0)
    finally:
        scaler.close()
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert (events[0]["action"], events[0]["disable_scale_in"], events[0]["self_retire"]) == (
        "policy_config",
        True,
        True,
    )
    datapoint = events[-1]
    assert (datapoint["action"], datapoint["required"], datapoint["metric"]) == ("datapoint", 4, 2.0)


def _prewarmed(url: str, tmp_path, **overrides) -> TargetTrackingAutoscaler:
    stack = SimpleNamespace(guarded=True, db_url=url, queue="q", agent=FakeEcsAgent(), worker_env={})
    return TargetTrackingAutoscaler(
        stack,
        3.0,
        1.5,
        1,
        tmp_path / "events.jsonl",
        **({"prewarm_workers": 3, "prewarm_window": (10, 30)} | overrides),
    )


def test_a_scheduled_minimum_raises_the_floor_and_the_count_in_its_window_and_only_the_floor_after(
    postgres_url, tmp_path
):
    scaler = _prewarmed(postgres_url, tmp_path)
    service = scaler.service
    service.desired_count = 1
    floors = []
    for units, policy_desired in ((5, None), (10, None), (20, 4), (29.9, None), (30, None), (40, None)):
        if policy_desired:
            service.desired_count = policy_desired  # target tracking scaled out meanwhile
        scaler.scheduled_minimum(units)
        floors.append((units, service.min_capacity, scaler.rule.min_capacity, service.desired_count))
    scaler.close()
    # Before: the floor; in the window: 3 (desired raised to it); after: the floor again, desired untouched
    # (scale-in is the workers' own, as under DisableScaleIn).
    assert floors == [
        (5, 1, 1, 1),
        (10, 3, 3, 3),
        (20, 3, 3, 4),
        (29.9, 3, 3, 4),
        (30, 1, 1, 4),
        (40, 1, 1, 4),
    ]
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [(e["min_capacity"], e["previous"]) for e in events if e["action"] == "scheduled_minimum"] == [
        (3, 1),
        (1, 4),
    ]


def test_a_scheduled_minimum_without_a_window_or_above_the_fleet_is_refused(postgres_url, tmp_path):
    for overrides in ({"prewarm_window": None}, {"prewarm_workers": 5}, {"prewarm_workers": 1}):
        try:
            _prewarmed(postgres_url, tmp_path, **overrides).close()
        except ValueError as exc:
            assert str(exc).startswith("prewarm_workers:") and "Fix:" in str(exc)
        else:
            raise AssertionError(f"{overrides} was accepted")
