"""Event-loop stall of a real Celery worker with the scale-in guard vs without it, under a bad ECS agent.

Each variant starts one prefork worker (Redis db 9) with a probe bootstep: a 10 ms timer on the consumer's
loop whose lateness is the loop's stall. Tasks are sent throughout so the guard cycles through its states.
Variants: no guard; the guard with an agent that hangs on every protection call (and an API fallback that
hangs too); the guard with an agent that throttles every call. Prints max and p99 stall per variant (the
guard's budget is 100 ms), and apart from them the wait before the loop's first timer: the guard waits (at
most 12 s) for its first protection call at start, so a configuration error fails the start.

    python bench/scalein_loop_block.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
from celery import Celery

from airflow_provider_ecsops.testing.fake_ecs_agent import FakeEcsAgent

BROKER = "redis://127.0.0.1:6379/9"
QUEUE = "ecsops-scalein-bench"
HERE = Path(__file__).resolve().parent
HANG_SECONDS = 30.0


class HangingAgent(FakeEcsAgent):
    """Accepts every protection call (agent and API) and answers only after ``HANG_SECONDS``."""

    def agent_call(self, key, method, body):
        if method == "PUT":
            time.sleep(HANG_SECONDS)
        return super().agent_call(key, method, body)

    def api_call(self, target, params):
        time.sleep(HANG_SECONDS)
        return super().api_call(target, params)


def stalls(variant: str, seconds: float) -> dict:
    redis.Redis.from_url(BROKER).flushdb()
    fake = HangingAgent() if variant == "hanging agent" else FakeEcsAgent()
    with fake, tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "stalls.json"
        if variant == "throttling agent":
            fake.inject_fault("ThrottlingException", times=10**6)
        env = {
            **os.environ,
            "AIRFLOW__CELERY__BROKER_URL": BROKER,
            "AIRFLOW__CELERY__RESULT_BACKEND": BROKER,
            "AIRFLOW__ECSOPS__SCALEIN_TICK_SECONDS": "0.2",
            "AIRFLOW__ECSOPS__SCALEIN_IDLE_GRACE_SECONDS": "0.3",
            "AIRFLOW__ECSOPS__SCALEIN_IDLE_VERIFY_SECONDS": "1",
            "AIRFLOW__ECSOPS__SCALEIN_STATUS_FILE": str(Path(tmp) / "status.json"),
            "AWS_ENDPOINT_URL_ECS": fake.url,
            # The API fallback signs its calls: without credentials it is a configuration error, and the guard
            # fails the worker's start (EX_CONFIG) instead of measuring anything.
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "ECSOPS_BENCH_GUARD": "0" if variant == "no guard" else "1",
            "ECSOPS_BENCH_PROBE": str(probe),
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
            **({} if variant == "no guard" else fake.add_task()),
        }
        command = [
            sys.executable, "-m", "celery", "-A", "scalein_celery_app", "worker", "-Q", QUEUE, "--pool",
            "prefork", "--concurrency", "1", "--without-mingle", "--without-gossip", "--loglevel", "WARNING",
        ]  # fmt: skip
        worker = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sender = Celery("ecsops-scalein-bench-sender", broker=BROKER)
        try:
            deadline = time.monotonic() + 60
            while not probe.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                sender.send_task("ecsops_scalein_bench.noop", queue=QUEUE)
                time.sleep(0.5)
            time.sleep(1.2)  # the probe's last flush
            if worker.poll() is not None:  # a dead worker's loop stalls nothing: no figure, not "all clear"
                raise SystemExit(f"{variant}: the worker exited ({worker.returncode}) during the measurement")
            return json.loads(probe.read_text())
        finally:
            sender.close()
            worker.kill()
            worker.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(
        f"event-loop stall (lateness of a 10 ms timer), {args.seconds:.0f}s per variant, one prefork worker"
    )
    for variant in ("no guard", "hanging agent", "throttling agent"):
        measured = stalls(variant, args.seconds)
        samples = sorted(measured["stalls"])
        p99 = samples[int(len(samples) * 0.99)]
        label = variant if variant == "no guard" else f"guard, {variant}"
        print(
            f"  {label:<24} max {samples[-1] * 1000:7.1f} ms   p99 {p99 * 1000:6.1f} ms   ({len(samples)} samples;"
            f" start, before the loop runs: {measured['start']:.1f}s)"
        )


if __name__ == "__main__":
    main()
