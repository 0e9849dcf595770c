"""Each probe passing, failing and timing out, against real sockets, a real HTTP server and moto."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time

import pytest

from airflow_provider_ecsops.heartbeat.aws_probes import AwsIdentityProbe, EcsClusterProbe, S3BucketProbe
from airflow_provider_ecsops.heartbeat.connection_probe import ConnectionProbe
from airflow_provider_ecsops.heartbeat.probes import (
    CallableProbe,
    DnsProbe,
    HttpProbe,
    PythonImportProbe,
    TcpProbe,
)
from airflow_provider_ecsops.heartbeat.runner import run_probes
from tests.heartbeat.helpers import REGION


def run_one(probe):
    (result,) = run_probes([probe])
    assert result.name == probe.name
    assert result.latency_ms >= 0
    return result


def assert_timed_out(result, timeout: float) -> None:
    assert not result.ok
    assert result.error == f"timed out after {timeout:g}s"


# --- Python imports -------------------------------------------------------------------------------------------


def test_python_import_passes_with_versions():
    result = run_one(PythonImportProbe(requirements=["json", "packaging>=20", "pytest"]))
    assert result.ok, result.error


def test_python_import_fails_on_missing_module_and_old_version():
    result = run_one(PythonImportProbe(requirements=["no_such_module_ecsops", "packaging>=999"]))
    assert not result.ok
    assert "no_such_module_ecsops: ModuleNotFoundError" in result.error
    assert "does not satisfy packaging>=999" in result.error


def test_python_import_times_out(tmp_path, monkeypatch):
    (tmp_path / "ecsops_slow_import.py").write_text("import time\ntime.sleep(3)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "ecsops_slow_import", raising=False)
    assert_timed_out(run_one(PythonImportProbe(requirements=["ecsops_slow_import"], timeout=0.3)), 0.3)


def test_python_import_rejects_bad_requirement():
    with pytest.raises(Exception, match="nope"):
        PythonImportProbe(requirements=["nope>>1"])


# --- TCP, DNS ---------------------------------------------------------------------------------------------------


def test_tcp_passes(silent_port):
    assert run_one(TcpProbe(host="127.0.0.1", port=silent_port)).ok


def test_tcp_fails_when_refused(closed_port):
    result = run_one(TcpProbe(host="127.0.0.1", port=closed_port, timeout=2))
    assert not result.ok
    assert "ConnectionRefusedError" in result.error


def test_tcp_times_out(full_backlog_port):
    result = run_one(TcpProbe(host="127.0.0.1", port=full_backlog_port, timeout=0.5))
    assert not result.ok
    # The runner's deadline and the socket's own timeout are the same; either may report first.
    assert "timed out" in result.error


def test_dns_passes():
    assert run_one(DnsProbe(hostname="localhost")).ok


def test_dns_fails_for_unresolvable_name():
    result = run_one(DnsProbe(hostname="no-such-host.invalid", timeout=5))
    assert not result.ok
    assert "gaierror" in result.error


def test_dns_times_out(monkeypatch):
    # A resolver that hangs: getaddrinfo has no timeout of its own, so only the runner's deadline bounds it.
    real = socket.getaddrinfo

    def hanging(host, *args, **kwargs):
        if host == "hung.example":
            time.sleep(3)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    assert_timed_out(run_one(DnsProbe(hostname="hung.example", timeout=0.3)), 0.3)


# --- HTTP -------------------------------------------------------------------------------------------------------


def test_http_passes_with_expected_status(http_server):
    assert run_one(HttpProbe(url=f"{http_server.base}/status/200")).ok
    assert run_one(HttpProbe(url=f"{http_server.base}/status/204", expected_status=(200, 204))).ok


def test_http_failure_masks_credentials_from_url(http_server):
    url = f"http://heartbeat-user:p%40ss-w0rd-XYZ@127.0.0.1:{http_server.port}/status/500?token=tok-123456"
    result = run_one(HttpProbe(url=url, name="api"))
    assert not result.ok
    assert "returned 500, expected [200]" in result.error
    for secret in ("heartbeat-user", "p%40ss-w0rd-XYZ", "p@ss-w0rd-XYZ", "tok-123456"):
        assert secret not in result.error
    assert f"http://***@127.0.0.1:{http_server.port}/status/500?token=***" in result.error
    # The credentials were really used, as basic auth, not dropped.
    assert http_server.basic_auth_seen() == ["heartbeat-user:p@ss-w0rd-XYZ"]


def test_http_default_name_never_contains_credentials(http_server):
    probe = HttpProbe(url=f"http://admin:hunter2@127.0.0.1:{http_server.port}/status/200")
    assert probe.name == "http_127.0.0.1"


def test_probe_repr_masks_credentials():
    probe = HttpProbe(url="https://ops:hunter2-secret@api.example/health?api_key=k-77", name="api")
    assert repr(probe) == (
        "HttpProbe(name='api', timeout=10.0, url='https://***@api.example/health?api_key=***', "
        "expected_status=200, method='GET')"
    )
    assert "s3cr3t-x" not in repr(CallableProbe(func=healthy, secrets_to_mask=["s3cr3t-x"]))


def test_http_gives_up_at_its_own_timeout_on_a_server_that_never_answers(silent_port):
    # probe.run() directly: the socket timeout is the only deadline (the runner's would be the same instant,
    # and either could report first), and this test's own bound is ten times that timeout. The fastest of three
    # tries is judged: one try took 5 s on a machine running two suites at once, a pause of the process.
    probe = HttpProbe(url=f"http://127.0.0.1:{silent_port}/health", timeout=0.3)
    probe.prepare()
    took, results = [], []
    for _ in range(3):
        started = time.monotonic()
        results.append(probe.run())
        took.append(time.monotonic() - started)
    assert min(took) < 3, took
    assert [(r.ok, r.error) for r in results] == [(False, "TimeoutError: timed out")] * 3


# --- callable ---------------------------------------------------------------------------------------------------


def healthy() -> None:
    return None


def unhealthy() -> bool:
    return False


def raising() -> None:
    raise RuntimeError("queue broker at amqp://airflow:rabbit-pass-1@mq:5672// refused")


def test_callable_passes_and_fails():
    assert run_one(CallableProbe(func=healthy)).ok
    assert run_one(CallableProbe(func=unhealthy)).error == "unhealthy returned False"
    error = run_one(CallableProbe(func=raising)).error
    assert error == "RuntimeError: queue broker at amqp://***@mq:5672// refused"


def test_callable_masks_given_secrets():
    def leaky() -> None:
        raise ValueError("login failed for key sekret-value-42")

    error = run_one(CallableProbe(func=leaky, secrets_to_mask=["sekret-value-42"])).error
    assert error == "ValueError: login failed for key ***"


def test_callable_times_out():
    assert_timed_out(run_one(CallableProbe(name="sleepy", func=lambda: time.sleep(3), timeout=0.2)), 0.2)


def test_a_probes_timeout_starts_after_its_imports_are_loaded():
    from airflow_provider_ecsops.heartbeat.probes import probe_dataclass

    loaded: list[bool] = []

    @probe_dataclass
    class SlowToImport(CallableProbe):
        def prepare(self) -> None:
            time.sleep(0.5)  # a cold import on a loaded worker
            loaded.append(True)

    def check() -> None:
        assert loaded, "checked before its imports were loaded"

    assert run_one(SlowToImport(name="cold", func=check, timeout=0.2)).ok


def test_a_failing_prepare_is_reported_by_the_check_not_raised():
    from airflow_provider_ecsops.heartbeat.probes import probe_dataclass

    @probe_dataclass
    class BrokenImport(CallableProbe):
        def prepare(self) -> None:
            raise ImportError("no module named 'boto3'")

    def check() -> None:
        raise ImportError("no module named 'boto3'")

    result = run_one(BrokenImport(name="broken", func=check, timeout=1))
    assert not result.ok and "no module named 'boto3'" in result.error


def test_probes_run_concurrently():
    # Three probes that can only pass if all three are running at the same time.
    barrier = threading.Barrier(3, timeout=5)
    probes = [CallableProbe(name=f"p{i}", func=barrier.wait, timeout=6) for i in range(3)]
    assert [r.ok for r in run_probes(probes)] == [True, True, True]


def test_concurrent_probes_look_up_airflow_connections_one_at_a_time(monkeypatch):
    # Airflow 3.0's Task SDK channel, which connection lookups use, is not thread-safe: lookups must not overlap.
    from airflow_provider_ecsops.compat import BaseHook

    guard, active, peak = threading.Lock(), [0], [0]

    def lookup(cls, conn_id):
        with guard:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with guard:
            active[0] -= 1
        raise RuntimeError(f"lookup of {conn_id} refused by the test")

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(lookup))
    probes = [ConnectionProbe(conn_id=f"hb_c{i}") for i in range(3)]
    probes += [AwsIdentityProbe(aws_conn_id="hb_a"), S3BucketProbe(bucket="hb-bucket", aws_conn_id="hb_b")]
    results = run_probes(probes)
    assert [r.error for r in results] == [
        f"RuntimeError: lookup of {conn_id} refused by the test"
        for conn_id in ("hb_c0", "hb_c1", "hb_c2", "hb_a", "hb_b")
    ]
    assert peak[0] == 1


# --- AWS (moto) ------------------------------------------------------------------------------------------------


def test_aws_identity_passes_and_fails_on_wrong_account(aws):
    assert run_one(AwsIdentityProbe(aws_conn_id=None, region_name=REGION)).ok
    result = run_one(AwsIdentityProbe(aws_conn_id=None, region_name=REGION, expected_account="999999999999"))
    assert not result.ok
    assert result.error == "credentials belong to account 123456789012, expected 999999999999"


def test_s3_bucket_passes_and_fails(aws):
    import boto3

    boto3.client("s3", region_name=REGION).create_bucket(Bucket="hb-bucket")
    assert run_one(S3BucketProbe(bucket="hb-bucket", aws_conn_id=None, region_name=REGION)).ok
    result = run_one(S3BucketProbe(bucket="hb-missing", aws_conn_id=None, region_name=REGION))
    assert not result.ok
    assert "HeadBucket" in result.error and "404" in result.error


def test_ecs_cluster_passes_and_fails(aws):
    import boto3

    ecs = boto3.client("ecs", region_name=REGION)
    ecs.create_cluster(clusterName="hb-cluster")
    assert run_one(EcsClusterProbe(cluster="hb-cluster", aws_conn_id=None, region_name=REGION)).ok
    result = run_one(EcsClusterProbe(cluster="hb-gone", aws_conn_id=None, region_name=REGION))
    assert not result.ok
    assert result.error == "ECS cluster hb-gone: MISSING"


@pytest.mark.parametrize(
    ("service", "probe"),
    [
        ("STS", AwsIdentityProbe(aws_conn_id=None, region_name=REGION, timeout=0.5)),
        ("S3", S3BucketProbe(bucket="b", aws_conn_id=None, region_name=REGION, timeout=0.5)),
        ("ECS", EcsClusterProbe(cluster="c", aws_conn_id=None, region_name=REGION, timeout=0.5)),
    ],
)
def test_aws_probes_time_out_on_a_hung_endpoint(service, probe, silent_port, monkeypatch):
    # Real botocore against an endpoint that accepts and never answers (no moto here).
    monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", f"http://127.0.0.1:{silent_port}")
    result = run_one(probe)
    assert not result.ok
    assert "timed out" in result.error.lower() or "timeout" in result.error.lower()


# --- Airflow connection ----------------------------------------------------------------------------------------


def test_connection_passes_with_hook_test(aws, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_HB_AWS", '{"conn_type": "aws", "extra": {"region_name": "us-east-1"}}')
    assert run_one(ConnectionProbe(conn_id="hb_aws")).ok


def test_connection_fails_when_missing():
    result = run_one(ConnectionProbe(conn_id="hb_no_such_conn"))
    assert not result.ok
    assert "hb_no_such_conn" in result.error


def test_connection_hook_test_failure_masks_connection_secrets(closed_port, monkeypatch):
    # The STS endpoint of the hook test carries the connection's password in its path and credentials in its
    # userinfo, so botocore's real EndpointConnectionError repeats both.
    endpoint = f"http://hbuser:hbpass-999@127.0.0.1:{closed_port}/wJalrXUtnFEMI-secret-KEY"
    extra = {"region_name": "us-east-1", "service_config": {"sts": {"endpoint_url": endpoint}}}
    conn = {
        "conn_type": "aws",
        "login": "AKIAABCDEFGHIJKLMNOP",
        "password": "wJalrXUtnFEMI-secret-KEY",
        "extra": extra,
    }
    monkeypatch.setenv("AIRFLOW_CONN_HB_BROKEN", json.dumps(conn))
    result = run_one(ConnectionProbe(conn_id="hb_broken", timeout=20))
    assert not result.ok
    assert result.error.startswith("connection hb_broken test failed: 'EndpointConnectionError'")
    assert f"http://***@127.0.0.1:{closed_port}/***" in result.error
    for secret in ("AKIAABCDEFGHIJKLMNOP", "wJalrXUtnFEMI-secret-KEY", "hbuser", "hbpass-999"):
        assert secret not in result.error


def test_connection_exists_without_hook_test(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_HB_PLAIN", '{"conn_type": "aws"}')
    assert run_one(ConnectionProbe(conn_id="hb_plain", test=False)).ok


def test_connection_times_out(silent_port, monkeypatch):
    extra = {
        "region_name": "us-east-1",
        "service_config": {"sts": {"endpoint_url": f"http://127.0.0.1:{silent_port}"}},
    }
    monkeypatch.setenv("AIRFLOW_CONN_HB_HUNG", json.dumps({"conn_type": "aws", "extra": extra}))
    assert_timed_out(run_one(ConnectionProbe(conn_id="hb_hung", timeout=0.5)), 0.5)
