"""A CloudWatch metric alarm evaluated against the data a (moto) CloudWatch holds: moto stores alarms but never
evaluates them.

Models "Evaluating an alarm" and "Configuring how CloudWatch alarms treat missing data" of the CloudWatch User
Guide (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html): the alarm looks
at the last ``EvaluationPeriods`` periods of ``Period`` seconds; a period is breaching when its ``Statistic``
crosses ``Threshold`` by ``ComparisonOperator``, or, with no datapoint, per ``TreatMissingData`` (``breaching``:
breaching; ``notBreaching``: not; ``missing``/``ignore``: not counted); the state is ALARM when at least
``DatapointsToAlarm`` periods breach, OK when enough periods have data and fewer breach, else INSUFFICIENT_DATA.
Simplifications, said here: periods end at the evaluation time (CloudWatch aligns them to the minute), and
``time_scale`` shrinks ``Period`` for time-scaled tests (0.25: a 60 s period lasts 15 s); ``missing`` keeping the
previous state is returned as INSUFFICIENT_DATA when every period is missing.
"""

from __future__ import annotations

import operator
from datetime import datetime, timedelta
from typing import Any

_COMPARE = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


def alarm_state(cloudwatch: Any, alarm: dict[str, Any], at: datetime, time_scale: float = 1.0) -> str:
    """
    ``"ALARM"``, ``"OK"`` or ``"INSUFFICIENT_DATA"`` of ``alarm`` (``put_metric_alarm`` kwargs) at ``at``.

    :param cloudwatch: a boto3 CloudWatch client (moto).
    :param alarm: the alarm's ``put_metric_alarm`` arguments.
    :param at: evaluation time (timezone-aware).
    :param time_scale: factor applied to ``Period``.
    """
    period = timedelta(seconds=alarm["Period"] * time_scale)
    breaching = evaluated = 0
    for index in range(alarm["EvaluationPeriods"]):
        end = at - index * period
        points = cloudwatch.get_metric_statistics(
            Namespace=alarm["Namespace"],
            MetricName=alarm["MetricName"],
            Dimensions=alarm["Dimensions"],
            StartTime=end - period,
            EndTime=end,
            Period=60
            * max(1, round(alarm["Period"] * time_scale / 60 + 0.5)),  # one bucket covers the window
            Statistics=[alarm["Statistic"]],
        )["Datapoints"]
        if points:
            value = (min if alarm["Statistic"] == "Minimum" else max)(p[alarm["Statistic"]] for p in points)
            evaluated += 1
            breaching += _COMPARE[alarm["ComparisonOperator"]](value, alarm["Threshold"])
        elif alarm.get("TreatMissingData", "missing") in ("breaching", "notBreaching"):
            evaluated += 1
            breaching += alarm["TreatMissingData"] == "breaching"
    if breaching >= alarm["DatapointsToAlarm"]:
        return "ALARM"
    return "OK" if evaluated else "INSUFFICIENT_DATA"
