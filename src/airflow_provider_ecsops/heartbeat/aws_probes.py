"""Probes of AWS resources, through the amazon provider's ``AwsBaseHook`` (imported when a probe runs)."""

from __future__ import annotations

from typing import Any

from airflow_provider_ecsops.heartbeat.probes import (
    Probe,
    ProbeFailed,
    airflow_lookups,
    name_slug,
    probe_dataclass,
)


@probe_dataclass
class AwsProbe(Probe):
    """
    Base of AWS probes.

    :param aws_conn_id: Airflow connection for AWS credentials (``None``: boto3's default chain).
    :param region_name: AWS region; default from the connection or environment.
    """

    aws_conn_id: str | None = "aws_default"
    region_name: str | None = None

    def prepare(self) -> None:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook  # noqa: F401
        from botocore.config import Config  # noqa: F401

    def client(self, client_type: str) -> Any:
        """A boto3 client whose connect/read timeouts are the probe's and which does not retry."""
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
        from botocore.config import Config

        config = Config(connect_timeout=self.timeout, read_timeout=self.timeout, retries={"max_attempts": 1})
        hook = AwsBaseHook(
            aws_conn_id=self.aws_conn_id, client_type=client_type, region_name=self.region_name, config=config
        )
        with airflow_lookups:
            hook.conn_config  # noqa: B018  (the connection lookup, cached on the hook)
        return hook.get_conn()


@probe_dataclass
class AwsIdentityProbe(AwsProbe):
    """
    STS ``GetCallerIdentity`` answers: the worker has working AWS credentials.

    :param expected_account: fail if the credentials belong to another account.
    """

    expected_account: str | None = None

    def default_name(self) -> str:
        return "aws_identity"

    def check(self) -> None:
        account = self.client("sts").get_caller_identity()["Account"]
        if self.expected_account and account != self.expected_account:
            raise ProbeFailed(f"credentials belong to account {account}, expected {self.expected_account}")


@probe_dataclass
class S3BucketProbe(AwsProbe):
    """S3 ``HeadBucket`` succeeds: the bucket exists and these credentials may reach it."""

    bucket: str

    def default_name(self) -> str:
        return name_slug(f"s3_{self.bucket}")

    def check(self) -> None:
        self.client("s3").head_bucket(Bucket=self.bucket)


@probe_dataclass
class EcsClusterProbe(AwsProbe):
    """ECS ``DescribeClusters`` reports the cluster ``ACTIVE``."""

    cluster: str

    def default_name(self) -> str:
        return name_slug(f"ecs_{self.cluster.rsplit('/', 1)[-1]}")

    def check(self) -> None:
        response = self.client("ecs").describe_clusters(clusters=[self.cluster])
        clusters = response.get("clusters") or []
        if not clusters:
            reasons = ", ".join(f.get("reason", "?") for f in response.get("failures") or []) or "not found"
            raise ProbeFailed(f"ECS cluster {self.cluster}: {reasons}")
        status = clusters[0].get("status")
        if status != "ACTIVE":
            raise ProbeFailed(f"ECS cluster {self.cluster} is {status}, expected ACTIVE")
