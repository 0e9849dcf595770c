"""
Heartbeat canary DAGs: probes of libraries, AWS resources, connections and networks, one task per Celery
queue, schedule and pickup delays, CloudWatch metrics and the alarm on them.

Names are imported lazily so a DAG file importing this package stays cheap to parse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_ecsops._lazy import lazy_getattr

if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ imports each name on first use
    from airflow_provider_ecsops.heartbeat.alarm import alarm_cloudformation, heartbeat_alarm
    from airflow_provider_ecsops.heartbeat.aws_probes import AwsIdentityProbe, EcsClusterProbe, S3BucketProbe
    from airflow_provider_ecsops.heartbeat.connection_probe import ConnectionProbe
    from airflow_provider_ecsops.heartbeat.dag import heartbeat_dag
    from airflow_provider_ecsops.heartbeat.metrics import HeartbeatMetrics
    from airflow_provider_ecsops.heartbeat.probes import (
        CallableProbe,
        DnsProbe,
        HttpProbe,
        Probe,
        ProbeFailed,
        ProbeResult,
        PythonImportProbe,
        TcpProbe,
    )

_EXPORTS = {
    "heartbeat_dag": "dag",
    "HeartbeatMetrics": "metrics",
    "heartbeat_alarm": "alarm",
    "alarm_cloudformation": "alarm",
    "Probe": "probes",
    "ProbeResult": "probes",
    "ProbeFailed": "probes",
    "PythonImportProbe": "probes",
    "TcpProbe": "probes",
    "DnsProbe": "probes",
    "HttpProbe": "probes",
    "CallableProbe": "probes",
    "AwsIdentityProbe": "aws_probes",
    "S3BucketProbe": "aws_probes",
    "EcsClusterProbe": "aws_probes",
    "ConnectionProbe": "connection_probe",
}

__all__ = list(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
