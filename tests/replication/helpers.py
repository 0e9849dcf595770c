"""What the replication tests share besides fixtures: the worker's ECS identity and the judge of the seed."""

from __future__ import annotations

from datetime import datetime, timedelta

FAKE_CLUSTER_ARN = "arn:aws:ecs:us-east-1:123456789012:cluster/ecsops-race"
FAKE_TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/ecsops-race/0123456789abcdef0123456789abcdef"
STUCK_AFTER = timedelta(minutes=10)  # the seeded "running" run stays running for the whole session


def judge(plan: dict, observations):
    """Classify ``observations`` over the seeded period, at the seed's "now"."""
    import pendulum

    from airflow_provider_ecsops.replication.classify import classify
    from tests.replication.seed import seed_schedule

    return classify(
        seed_schedule(pendulum.parse(plan["start_date"])),
        observations,
        since=datetime.fromisoformat(plan["since"]),
        until=datetime.fromisoformat(plan["until"]),
        now=datetime.fromisoformat(plan["now"]),
        stuck_after=STUCK_AFTER,
    )
