"""``heartbeat_dag``: a pure factory for a canary DAG that tells the truth about the cluster."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_provider_ecsops.heartbeat.guards import check_heartbeat
from airflow_provider_ecsops.heartbeat.metrics import HeartbeatMetrics
from airflow_provider_ecsops.heartbeat.operators import (
    HeartbeatProbesOperator,
    HeartbeatQueueOperator,
    HeartbeatVerdictOperator,
)
from airflow_provider_ecsops.heartbeat.probes import Probe, name_slug

_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
# The verdict waits for queue reports until this fraction of the run timeout: the rest is left to publish.
REPORT_DEADLINE_FRACTION = 0.8


def heartbeat_dag(
    dag_id: str,
    schedule: timedelta | str,
    probes: Sequence[Probe],
    *,
    mode: str = "single",
    queues: Sequence[str] = (),
    metrics: HeartbeatMetrics | None = None,
    timeout: timedelta | None = None,
    priority: str = "normal",
    queue: str | None = None,
    task_overhead: timedelta = timedelta(seconds=15),
    api_conn_id: str | None = None,
    start_date: datetime = _EPOCH,
    **dag_kwargs: Any,
) -> Any:
    """
    Build a heartbeat DAG. Pure: no network, database, Variable or AWS call happens here.

    :param dag_id: the DAG id (also the ``Dag`` metric dimension).
    :param schedule: a ``timedelta`` or cron expression; its shortest interval bounds ``timeout``.
    :param probes: what to check, e.g. ``[S3BucketProbe(bucket="b"), TcpProbe(host="db", port=5432)]``.
    :param mode: ``"single"`` (default): all probes concurrently in one task, the fewest scheduler round
        trips; ``"parallel"``: one task per probe, then a verdict task (schedules of 4 minutes or more).
    :param queues: Celery queues to cover: one trivial task per queue proves a worker of each takes work.
    :param metrics: CloudWatch namespace, dimensions, connection, EMF; default ``HeartbeatMetrics()``.
    :param timeout: run timeout (``dagrun_timeout`` and each task's ``execution_timeout``); must be shorter
        than the schedule interval; default 80% of it.
    :param priority: ``"normal"`` (default, the heartbeat waits like every other task, so saturation shows)
        or ``"high"`` (it jumps the queue: keeps reporting under saturation but no longer reveals it).
    :param queue: queue of the probe and verdict tasks (default: Airflow's default queue).
    :param task_overhead: assumed scheduling + pickup time of one task stage, used by the guards.
    :param api_conn_id: Airflow connection to the API server's REST API v2 (host = its URL, password = a
        token, or login/password); on Airflow 3 it gives the exact queued time for ``PickupDelay``. Without
        it (or if the lookup fails, logged) ``PickupDelay`` there is an upper bound (from the run's start).
    :param start_date: DAG start date; with ``catchup=False`` only the latest interval runs.
    :param dag_kwargs: other ``DAG`` arguments (``tags``, ``doc_md``, ``default_args``...).
    """
    plan = check_heartbeat(
        schedule=schedule,
        probes=probes,
        mode=mode,
        queues=queues,
        timeout=timeout,
        priority=priority,
        task_overhead=task_overhead,
        dag_kwargs=dag_kwargs,
    )
    from airflow_provider_ecsops.compat import DAG

    metrics = metrics or HeartbeatMetrics()
    dag_kwargs.setdefault("tags", ["heartbeat"])
    dag_kwargs.setdefault(
        "doc_md",
        f"Heartbeat canary ({mode} mode, timeout {plan.timeout}, {priority} priority): probes "
        f"{', '.join(p.name for p in probes)}; queues {', '.join(queues) or '(none)'}; metrics in "
        f"CloudWatch namespace {metrics.namespace}.",
    )
    dag_kwargs.pop("catchup", None)
    dag_kwargs.pop("max_active_runs", None)
    task_args: dict[str, Any] = {
        "execution_timeout": plan.timeout,
        "retries": 0,  # a retried heartbeat reports late green instead of the failure
        "priority_weight": plan.priority_weight,
        "weight_rule": plan.weight_rule,
    }
    api: dict[str, Any] = {"api_conn_id": api_conn_id} if api_conn_id else {}
    home_queue: dict[str, Any] = {"queue": queue} if queue else {}
    with DAG(
        dag_id,
        schedule=schedule,
        start_date=start_date,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=plan.timeout,
        **dag_kwargs,
    ) as dag:
        if mode == "single" and not queues:
            HeartbeatProbesOperator(
                task_id="heartbeat", probes=probes, metrics=metrics, **api, **home_queue, **task_args
            )
            return dag
        if mode == "single":
            reporters: list[Any] = [
                HeartbeatProbesOperator(task_id="probes", probes=probes, **api, **home_queue, **task_args)
            ]
        else:
            reporters = [
                HeartbeatProbesOperator(
                    task_id=f"probe_{p.name}", probes=[p], **api, **home_queue, **task_args
                )
                for p in probes
            ]
        queue_tasks = [
            HeartbeatQueueOperator(task_id=f"queue_{name_slug(q)}", queue=q, **api, **task_args)
            for q in queues
        ]
        verdict = HeartbeatVerdictOperator(
            task_id="verdict",
            metrics=metrics,
            report_task_ids=[t.task_id for t in reporters],
            queue_task_ids=[t.task_id for t in queue_tasks],
            report_deadline=plan.timeout * REPORT_DEADLINE_FRACTION,
            **home_queue,
            **task_args,
        )
        # Not downstream of the queue tasks: a queue without workers must not keep the verdict from running.
        for reporter in reporters:
            reporter >> verdict
    return dag
