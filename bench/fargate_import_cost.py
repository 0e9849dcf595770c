"""DAG parse cost: a DAG file with FargateOffloadOperator vs the same file with a bare EmptyOperator.

Each sample is a fresh interpreter that imports Airflow (not timed), then times loading the DAG file (timed),
as the DAG processor does for a new file; also with ``run_task_kwargs`` (botocore's model, loaded only then) and
the official EcsRunTaskOperator for reference. Prints the
medians, our overhead over EmptyOperator (target: within 20 ms) and whether boto3 got imported.

    python bench/fargate_import_cost.py [--runs 21]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HEADER = """
import pendulum
try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG
{imports}
with DAG("parse_bench", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False) as dag:
    {task}
"""

VARIANTS = {
    "EmptyOperator": (
        "from airflow_provider_ecsops.compat import EmptyOperator",
        'EmptyOperator(task_id="t")',
    ),
    "FargateOffloadOperator": (
        "from airflow_provider_ecsops.fargate import FargateOffloadOperator",
        'FargateOffloadOperator(task_id="t", cluster="c", task_definition="td", subnets=["subnet-1"], '
        'command=["python", "job.py"])',
    ),
    # run_task_kwargs is checked against botocore's RunTask model at parse time: botocore is paid only here.
    "FargateOffloadOperator+kwargs": (
        "from airflow_provider_ecsops.fargate import FargateOffloadOperator",
        'FargateOffloadOperator(task_id="t", cluster="c", task_definition="td", subnets=["subnet-1"], '
        'command=["python", "job.py"], run_task_kwargs={"enableExecuteCommand": True})',
    ),
    "EcsRunTaskOperator (official)": (
        "from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator",
        'EcsRunTaskOperator(task_id="t", cluster="c", task_definition="td", overrides={}, launch_type="FARGATE")',
    ),
}

PROBE = """
import sys, time, runpy
import airflow, airflow.models.baseoperator, pendulum  # what every DAG file pays anyway
from airflow_provider_ecsops import compat
compat.EmptyOperator, compat.DAG
start = time.perf_counter()
runpy.run_path(sys.argv[1])
elapsed = time.perf_counter() - start
print(__import__("json").dumps({"ms": elapsed * 1000, "boto3": "boto3" in sys.modules,
                                "botocore": "botocore" in sys.modules}))
"""


def sample(path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name, (imports, task) in VARIANTS.items():
            files[name] = Path(tmp) / f"{len(files)}.py"
            files[name].write_text(HEADER.format(imports=imports, task=task))
        samples: dict[str, list[dict]] = {name: [] for name in VARIANTS}
        for _ in range(args.runs):  # interleaved, so drift in machine load hits every variant alike
            for name, path in files.items():
                samples[name].append(sample(path))
    print(f"DAG file parse time, median of {args.runs} fresh interpreters")
    print(f"{'operator':<32} {'median ms':>10} {'boto3 imported':>15} {'botocore imported':>18}")
    for name, runs in samples.items():
        results[name] = statistics.median(r["ms"] for r in runs)
        boto3, botocore = (any(r[m] for r in runs) for m in ("boto3", "botocore"))
        print(f"{name:<32} {results[name]:>10.1f} {boto3!s:>15} {botocore!s:>18}")
    ours = results["FargateOffloadOperator"] - results["EmptyOperator"]
    official = results["EcsRunTaskOperator (official)"] - results["EmptyOperator"]
    passthrough = results["FargateOffloadOperator+kwargs"] - results["FargateOffloadOperator"]
    print(
        f"run_task_kwargs (botocore's RunTask model) over FargateOffloadOperator without: {passthrough:+.1f} ms"
    )
    print(f"FargateOffloadOperator over EmptyOperator: {ours:+.1f} ms (target <= 20 ms)")
    print(
        f"EcsRunTaskOperator over EmptyOperator: {official:+.1f} ms; ours costs {ours / official:.2f}x of that"
    )


if __name__ == "__main__":
    main()
