"""
Heartbeat canary DAGs: probes of libraries, AWS resources, connections and networks, one task per Celery
queue, schedule and pickup delays, CloudWatch metrics and the alarm on them.

Names are imported lazily so a DAG file importing this package stays cheap to parse.
"""

from __future__ import annotations

from airflow_provider_ecsops._lazy import lazy_getattr

_LAZY = {
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

__all__ = list(_LAZY)
__getattr__ = lazy_getattr(__name__, _LAZY)
