"""Local AWS for the demo and the tests: moto, the Fargate double, and the resources the example DAGs use.

``with local_aws() as env:`` activates moto in-process (or, with ``server=True``, a moto server on loopback that
every client reaches through ``AWS_ENDPOINT_URL``, as aiobotocore's async clients need) and the
:class:`FargateDouble`, then seeds what a real
account would have: an ECS cluster, a VPC with DNS hostnames and support (moto needs both for awsvpc ENIs), two
subnets, a security group, a Fargate task definition whose containers carry container-level memory (moto
requires it) and log to awslogs, its log group, and an S3 bucket. Their names are exported in ``ECSOPS_DEMO_*``
environment variables (restored on exit) so example DAGs can read them at parse time without any AWS call.
"""

from __future__ import annotations

import logging
import os
import socket
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from airflow_provider_ecsops.testing.fargate_double import FargateDouble

REGION = "us-east-1"
CLUSTER = "ecsops-demo"
BUCKET = "ecsops-demo-bucket"
LOG_GROUP = "/ecs/ecsops-demo"
FAMILY = "ecsops-demo-etl"
# Resetting the moto server walks every service's backends: tens of seconds on a loaded 2-core machine.
RESET_TIMEOUT = 300


@dataclass
class LocalAws:
    region: str
    cluster: str
    bucket: str
    subnets: list[str]
    security_groups: list[str]
    task_definition: str
    log_group: str
    fargate: FargateDouble

    def environ(self) -> dict[str, str]:
        return {
            "ECSOPS_DEMO_REGION": self.region,
            "ECSOPS_DEMO_CLUSTER": self.cluster,
            "ECSOPS_DEMO_BUCKET": self.bucket,
            "ECSOPS_DEMO_SUBNETS": ",".join(self.subnets),
            "ECSOPS_DEMO_SECURITY_GROUPS": ",".join(self.security_groups),
            "ECSOPS_DEMO_TASK_DEFINITION": self.task_definition,
            "ECSOPS_DEMO_LOG_GROUP": self.log_group,
        }

    def run_tasks(self, n: int, *, operator_started: bool = False) -> list[str]:
        """RunTask ``n`` times with the demo task definition; returns the task ARNs.

        :param operator_started: give each a ``startedBy`` of ``ecsops-<32 hex>``, as the operator's run keys
            look (the event rule's pattern selects that prefix).
        """
        import boto3

        ecs = boto3.client("ecs", region_name=self.region)
        arns = []
        for i in range(n):
            request = {
                "cluster": self.cluster,
                "taskDefinition": self.task_definition,
                "launchType": "FARGATE",
                "networkConfiguration": {"awsvpcConfiguration": {"subnets": self.subnets}},
            }
            if operator_started:
                request["startedBy"] = f"ecsops-{i:032x}"
            arns.append(ecs.run_task(**request)["tasks"][0]["taskArn"])
        return arns


def register_task_definition(ecs, family: str = FAMILY, *, sidecar: bool = True, region: str = REGION) -> str:
    """Register a Fargate task definition with an essential ``etl`` container (and a non-essential sidecar)."""

    def container(name: str, essential: bool) -> dict:
        return {
            "name": name,
            "image": f"public.ecr.aws/docker/library/python:3.12-slim#{name}",
            "essential": essential,
            "memory": 256,  # moto needs container-level memory even where Fargate has task-level memory
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": LOG_GROUP,
                    "awslogs-region": region,
                    "awslogs-stream-prefix": family,
                },
            },
        }

    containers = [container("etl", True)] + ([container("sidecar", False)] if sidecar else [])
    return ecs.register_task_definition(
        family=family,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        executionRoleArn=f"arn:aws:iam::123456789012:role/{family}-execution",
        containerDefinitions=containers,
    )["taskDefinition"]["taskDefinitionArn"]


def seed(region: str = REGION) -> dict:
    """Create the demo resources in the active moto account; returns their identifiers."""
    import boto3

    ec2 = boto3.client("ec2", region_name=region)
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=f"{region}{az}")["Subnet"][
            "SubnetId"
        ]
        for i, az in ((1, "a"), (2, "b"))
    ]
    sg = ec2.create_security_group(GroupName="ecsops-demo", Description="ecsops demo", VpcId=vpc)["GroupId"]
    ecs = boto3.client("ecs", region_name=region)
    ecs.create_cluster(clusterName=CLUSTER)
    boto3.client("logs", region_name=region).create_log_group(logGroupName=LOG_GROUP)
    boto3.client("s3", region_name=region).create_bucket(Bucket=BUCKET)
    return {
        "subnets": subnets,
        "security_groups": [sg],
        "task_definition": register_task_definition(ecs, region=region),
    }


@contextmanager
def _moto(server: bool) -> Iterator[None]:
    if not server:
        from moto import mock_aws

        with mock_aws():
            yield
        return
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto_server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    # The server shares moto's in-process backends; start from (and leave) an empty account.
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=RESET_TIMEOUT).close()
    try:
        yield
    finally:
        urllib.request.urlopen(reset, timeout=RESET_TIMEOUT).close()
        moto_server.stop()


@contextmanager
def local_aws(region: str = REGION, server: bool = False) -> Iterator[LocalAws]:
    """Activate moto and the Fargate double, seed the demo resources and export their names.

    :param region: AWS region of the resources.
    :param server: use a moto server on loopback instead of in-process moto (for aiobotocore clients).
    """
    saved = dict(os.environ)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": region,
        }
    )
    try:
        with _moto(server), FargateDouble() as fargate:
            ids = seed(region)
            env = LocalAws(
                region=region,
                cluster=CLUSTER,
                bucket=BUCKET,
                log_group=LOG_GROUP,
                fargate=fargate,
                **ids,
            )
            os.environ.update(env.environ())
            yield env
    finally:
        os.environ.clear()
        os.environ.update(saved)
