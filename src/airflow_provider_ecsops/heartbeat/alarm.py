"""The CloudWatch alarm on ``Heartbeat``: missing data is breaching, M of N periods, period >= schedule."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any

from airflow_provider_ecsops.heartbeat.guards import schedule_interval
from airflow_provider_ecsops.heartbeat.metrics import HeartbeatMetrics


def heartbeat_alarm(
    dag_id: str,
    schedule: timedelta | str,
    *,
    metrics: HeartbeatMetrics | None = None,
    datapoints_to_alarm: int = 2,
    evaluation_periods: int = 3,
    period: int | None = None,
    alarm_name: str | None = None,
    alarm_actions: tuple[str, ...] = (),
    ok_actions: tuple[str, ...] = (),
) -> dict[str, Any]:
    """
    Keyword arguments for ``cloudwatch.put_metric_alarm`` alarming when the heartbeat is not green.

    ``Minimum`` of ``Heartbeat`` below 1 in ``datapoints_to_alarm`` of ``evaluation_periods`` periods, and
    ``TreatMissingData=breaching``: a heartbeat that never ran (scheduler down, queue dead, run timed out)
    publishes nothing and must alarm too.

    :param dag_id: the heartbeat DAG id (must match the ``Dag`` dimension it publishes).
    :param schedule: the heartbeat's schedule; the period is at least its interval so a healthy
        heartbeat puts a datapoint in every period.
    :param metrics: the same ``HeartbeatMetrics`` the DAG uses (namespace and dimensions).
    :param datapoints_to_alarm: M, breaching periods needed to alarm.
    :param evaluation_periods: N, periods looked at.
    :param period: seconds (a multiple of 60); default the schedule interval rounded up to a minute.
    :param alarm_name: default ``"<namespace> <dag_id> heartbeat"``.
    :param alarm_actions: ARNs notified on ALARM (e.g. an SNS topic).
    :param ok_actions: ARNs notified on OK.
    """
    metrics = metrics or HeartbeatMetrics()
    return _alarm(
        metrics,
        schedule,
        period,
        datapoints_to_alarm,
        evaluation_periods,
        alarm_actions,
        ok_actions,
        AlarmName=alarm_name or f"{metrics.namespace} {dag_id} heartbeat",
        MetricName="Heartbeat",
        Dimensions=metrics.base_dimensions(dag_id),
        Statistic="Minimum",
        Threshold=1.0,
        ComparisonOperator="LessThanThreshold",
        TreatMissingData="breaching",
        what=f"Airflow heartbeat {dag_id} failed or did not report",
        caller="heartbeat_alarm",
    )


def delay_alarm(
    dag_id: str,
    schedule: timedelta | str,
    *,
    task_id: str,
    queue: str,
    threshold_seconds: float,
    metric: str = "PickupDelay",
    metrics: HeartbeatMetrics | None = None,
    datapoints_to_alarm: int = 2,
    evaluation_periods: int = 3,
    period: int | None = None,
    alarm_name: str | None = None,
    alarm_actions: tuple[str, ...] = (),
    ok_actions: tuple[str, ...] = (),
) -> dict[str, Any]:
    """
    Keyword arguments for ``cloudwatch.put_metric_alarm`` alarming when one heartbeat task starts late.

    ``Maximum`` of ``metric`` (``PickupDelay``: workers slow to take work; ``ScheduleDelay``: the scheduler
    late) above ``threshold_seconds`` in M of N periods. Missing data keeps the state (``missing``): a task that
    did not run is the :func:`heartbeat_alarm`'s to report.

    :param task_id: the heartbeat task (``Task`` dimension), e.g. ``"queue_default"``.
    :param queue: its queue (``Queue`` dimension).
    :param threshold_seconds: the delay that alarms; e.g. a third of the schedule interval.
    :param metric: ``"PickupDelay"`` or ``"ScheduleDelay"``.
    The other parameters are :func:`heartbeat_alarm`'s.
    """
    if metric not in ("PickupDelay", "ScheduleDelay"):
        raise ValueError(
            f"delay_alarm: metric={metric!r}: not a heartbeat delay. Fix: metric='PickupDelay' or 'ScheduleDelay'"
        )
    metrics = metrics or HeartbeatMetrics()
    return _alarm(
        metrics,
        schedule,
        period,
        datapoints_to_alarm,
        evaluation_periods,
        alarm_actions,
        ok_actions,
        AlarmName=alarm_name or f"{metrics.namespace} {dag_id} {task_id} {metric}",
        MetricName=metric,
        Dimensions=[
            *metrics.base_dimensions(dag_id),
            {"Name": "Queue", "Value": queue},
            {"Name": "Task", "Value": task_id},
        ],
        Statistic="Maximum",
        Threshold=float(threshold_seconds),
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="missing",
        what=f"Airflow heartbeat {dag_id} task {task_id} on queue {queue}: {metric} above {threshold_seconds:g}s",
        caller="delay_alarm",
    )


def _alarm(
    metrics: HeartbeatMetrics,
    schedule: timedelta | str,
    period: int | None,
    datapoints_to_alarm: int,
    evaluation_periods: int,
    alarm_actions: tuple[str, ...],
    ok_actions: tuple[str, ...],
    *,
    what: str,
    caller: str,
    **fields: Any,
) -> dict[str, Any]:
    interval = schedule_interval(schedule).total_seconds()
    minimum = max(60, math.ceil(interval / 60) * 60)
    period = minimum if period is None else period
    if period < interval or period % 60:
        raise ValueError(
            f"{caller}: period={period}: not a multiple of 60 of at least the schedule interval ({interval:g}s); "
            f"healthy periods with no run would breach. Fix: period={minimum}"
        )
    if not 1 <= datapoints_to_alarm <= evaluation_periods:
        raise ValueError(
            f"{caller}: datapoints_to_alarm={datapoints_to_alarm}: outside 1..evaluation_periods "
            f"({evaluation_periods}). Fix: datapoints_to_alarm={min(max(datapoints_to_alarm, 1), evaluation_periods)}"
        )
    return {
        "AlarmName": fields.pop("AlarmName"),
        "AlarmDescription": f"{what} in {datapoints_to_alarm} of {evaluation_periods} periods of {period}s.",
        "Namespace": metrics.namespace,
        **fields,
        "Period": period,
        "EvaluationPeriods": evaluation_periods,
        "DatapointsToAlarm": datapoints_to_alarm,
        "ActionsEnabled": bool(alarm_actions or ok_actions),
        "AlarmActions": list(alarm_actions),
        "OKActions": list(ok_actions),
    }


def alarm_cloudformation(alarm_kwargs: dict[str, Any], logical_id: str = "HeartbeatAlarm") -> str:
    """
    A CloudFormation (JSON) template holding the alarm described by :func:`heartbeat_alarm`'s result.

    :param alarm_kwargs: the ``put_metric_alarm`` arguments.
    :param logical_id: the resource's logical id.
    """
    resource = {"Type": "AWS::CloudWatch::Alarm", "Properties": dict(alarm_kwargs)}
    return json.dumps({"Resources": {logical_id: resource}}, indent=2)
