"""Every build-time guard of heartbeat_dag, and what it allows."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_provider_ecsops.heartbeat.dag import heartbeat_dag
from airflow_provider_ecsops.heartbeat.guards import schedule_interval
from airflow_provider_ecsops.heartbeat.probes import DnsProbe, TcpProbe

PROBES = [DnsProbe(hostname="localhost", timeout=2)]


def build(schedule=timedelta(minutes=1), probes=PROBES, **kwargs):
    return heartbeat_dag("hb_guard", schedule, probes, **kwargs)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (timedelta(minutes=3), timedelta(minutes=3)),
        ("*/5 * * * *", timedelta(minutes=5)),
        ("@hourly", timedelta(hours=1)),
        ("0 9,17 * * *", timedelta(hours=8)),  # the shortest gap counts
    ],
)
def test_schedule_interval(schedule, expected):
    assert schedule_interval(schedule) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"schedule": None}, r"schedule=None must be a timedelta or a cron expression"),
        ({"schedule": "@once"}, r"schedule='@once' must be a timedelta or a cron expression"),
        ({"schedule": "every minute"}, r"schedule='every minute' is not a valid cron expression"),
        ({"schedule": timedelta(0)}, r"must have a positive interval"),
        (
            {"timeout": timedelta(minutes=1)},
            r"timeout=0:01:00 must be shorter than the schedule interval \(0:01:00\)",
        ),
        ({"timeout": timedelta(minutes=2)}, r"must be shorter than the schedule interval"),
        ({"timeout": 30}, r"timeout=30 must be a positive timedelta"),
        ({"mode": "parallel"}, r"mode='parallel' cannot complete reliably every 0:01:00.*Use mode='single'"),
        ({"mode": "serial"}, r"mode='serial' must be one of \('single', 'parallel'\)"),
        ({"priority": "urgent"}, r"priority='urgent' must be one of \('normal', 'high'\)"),
        ({"catchup": True}, r"catchup=True would replay missed heartbeats"),
        ({"max_active_runs": 2}, r"max_active_runs must be 1"),
        ({"dagrun_timeout": timedelta(seconds=30)}, r"pass timeout= instead of dagrun_timeout="),
        ({"queues": "gpu"}, r"queues='gpu' must be a list of queue names"),
        ({"queues": ["gpu", "gpu"]}, r"must be distinct, non-empty queue names"),
        ({"queues": [""]}, r"must be distinct, non-empty queue names"),
        ({"probes": []}, r"probes must be a non-empty list of Probe objects"),
        ({"probes": ["localhost"]}, r"probes must be a non-empty list of Probe objects"),
        (
            {"probes": [DnsProbe(hostname="a", name="x"), DnsProbe(hostname="b", name="x")]},
            r"probe names \['x'\] repeat",
        ),
        (
            {"probes": [TcpProbe(host="db", port=5432, timeout=40)]},
            r"probe 'tcp_db_5432' timeout=40s does not fit: timeout 0:00:48 minus 1 task stage\(s\)",
        ),
        (
            {"probes": [TcpProbe(host="db", port=5432, timeout=25)], "queues": ["gpu"]},
            r"timeout=25s does not fit: timeout 0:00:48 minus 2 task stage\(s\)",
        ),
    ],
)
def test_guard_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "bad name!"}, r"Probe name 'bad name!' is invalid"),
        ({"timeout": 0}, r"timeout must be a positive number"),
    ],
)
def test_probe_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DnsProbe(hostname="localhost", **kwargs)


def test_defaults_are_safe():
    dag = build()
    (task,) = dag.tasks
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert dag.dagrun_timeout == timedelta(seconds=48)
    assert task.execution_timeout == timedelta(seconds=48)
    assert task.retries == 0
    assert task.priority_weight == 1
    assert "absolute" in str(getattr(task.weight_rule, "value", task.weight_rule)).lower()


def test_high_priority_on_request():
    assert {t.priority_weight for t in build(priority="high", queues=["q"]).tasks} == {1000}


def test_parallel_allowed_on_four_minutes():
    dag = build(schedule="*/4 * * * *", mode="parallel")
    assert sorted(dag.task_ids) == ["probe_dns_localhost", "verdict"]


def test_parallel_refused_on_three_minutes_whose_timeout_is_under_twice_the_worst_run_on_record():
    with pytest.raises(ValueError, match=r"cannot complete reliably every 0:03:00.*at least 0:04:00"):
        build(schedule="*/3 * * * *", mode="parallel")
