"""Probe that an Airflow connection exists and, where its hook has one, that its test passes."""

from __future__ import annotations

import json

from airflow_provider_ecsops.heartbeat.masking import is_secret_key, mask
from airflow_provider_ecsops.heartbeat.probes import (
    Probe,
    ProbeFailed,
    airflow_lookups,
    name_slug,
    probe_dataclass,
)


@probe_dataclass
class ConnectionProbe(Probe):
    """
    The connection ``conn_id`` resolves (metadata DB or secrets backend) and its hook's
    ``test_connection()`` passes when the hook has one.

    :param conn_id: the Airflow connection id.
    :param test: also run the hook's ``test_connection()``; ``False`` only checks the connection exists.
    """

    conn_id: str
    test: bool = True

    def default_name(self) -> str:
        return name_slug(f"conn_{self.conn_id}")

    def check(self) -> None:
        from airflow_provider_ecsops.compat import BaseHook

        with airflow_lookups:
            conn = BaseHook.get_connection(self.conn_id)
        if not self.test:
            return
        try:
            hook = conn.get_hook()
            if not callable(getattr(hook, "test_connection", None)):
                return
            ok, message = hook.test_connection()
        except Exception as exc:
            ok, message = False, f"{type(exc).__name__}: {exc}"
        if not ok:
            # The connection's own secrets are known only here, so they are masked here.
            raise ProbeFailed(mask(f"connection {self.conn_id} test failed: {message}", _secrets(conn)))


def _secrets(conn) -> list[str]:
    """The password and the extra's values under secret-looking keys (``aws_secret_access_key``, ``token``)."""
    secrets = [conn.password or ""]
    try:
        extra = json.loads(conn.extra or "{}")
    except ValueError:
        extra = {}
    if isinstance(extra, dict):
        secrets += [v for k, v in extra.items() if isinstance(v, str) and is_secret_key(k)]
    return secrets
