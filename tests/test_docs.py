"""The docs say only what is true of the repository: links and paths exist, the README's quick starts load as DAG
files, no example needs a logical date, and each capability's IAM policy lists exactly the AWS actions its code
calls."""

from __future__ import annotations

import ast
import importlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "airflow_provider_ecsops"
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
CAPABILITIES = ("fargate", "heartbeat", "scalein", "replication")

# Backticked text that names a file or folder of the repository: a top-level folder or file of it, or a
# capability / testing path relative to the package (``testing/race/``).
REPO_PREFIXES = ("src/", "docs/", "scripts/", "bench/", "example_dags/", "tests/", "constraints/", ".ci/")
PACKAGE_PREFIXES = tuple(f"{name}/" for name in (*CAPABILITIES, "testing"))
PATH_TOKEN = re.compile(r"^[\w./-]+$")
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def _prose(text: str) -> str:
    """``text`` without its fenced code blocks (commands and code are not references to check)."""
    return FENCE.sub("", text)


def _ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_every_relative_link_in_the_docs_exists(doc):
    missing = []
    for target in LINK.findall(_prose(doc.read_text())):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path, _, anchor = target.partition("#")
        file = doc.parent / path
        if not file.exists() or (anchor and file.suffix == ".md" and anchor not in _anchors(file)):
            missing.append(target)
    assert not missing, f"{doc.name} links to files or headings that do not exist: {missing}"


def _anchors(doc: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", _prose(doc.read_text()), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_anchors_follow_githubs_rule():
    assert "install-on-mwaa-from-a-wheel" in _anchors(README)
    assert "iam-policy-task-role-of-the-workers" in _anchors(ROOT / "docs" / "scalein.md")


def _backticked_paths(doc: Path) -> list[str]:
    tokens = re.findall(r"`([^`\n]+)`", _prose(doc.read_text()))
    return [t for t in tokens if PATH_TOKEN.match(t) and t.startswith(REPO_PREFIXES + PACKAGE_PREFIXES)]


def test_the_path_check_sees_the_paths_the_docs_name():
    # Guards the check below against a pattern that silently matches nothing.
    assert "src/airflow_provider_ecsops/testing/race/" in _backticked_paths(ROOT / "docs" / "race-lab.md")
    assert "example_dags/fargate_offload.py" in _backticked_paths(README)


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_every_backticked_repository_path_in_the_docs_exists(doc):
    missing = []
    for token in _backticked_paths(doc):
        base = PACKAGE if token.startswith(PACKAGE_PREFIXES) else ROOT
        if not (base / token).exists():
            missing.append(token)
    assert not missing, f"{doc.name} names paths that do not exist: {missing}"


# -- quick starts ------------------------------------------------------------------------------------------------

QUICK_START_DAG_IDS = [
    {"etl_on_fargate"},
    {"heartbeat"},
    {f"scaledown_race_{suffix}" for suffix in ("a1", "a2", "a3", "a4", "b2", "b3", "b4", "b5")},
]


def _quick_starts(language: str) -> list[str]:
    section = README.read_text().split("## Quick starts", 1)[1].split("\n## ", 1)[0]
    return [body for lang, body in FENCE.findall(section) if lang == language]


def test_the_readme_has_one_python_quick_start_per_dag_capability():
    assert len(_quick_starts("python")) == len(QUICK_START_DAG_IDS)


def _dag_bag(folder: Path):
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2 and 3.0
        from airflow.models.dagbag import DagBag
    return DagBag(dag_folder=str(folder))


@pytest.mark.parametrize("index", range(len(QUICK_START_DAG_IDS)))
def test_each_readme_quick_start_loads_as_a_dag_file(index, tmp_path):
    (tmp_path / "quick_start.py").write_text(_quick_starts("python")[index])
    bag = _dag_bag(tmp_path)
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == QUICK_START_DAG_IDS[index]


def test_the_scalein_quick_start_names_the_guard_config():
    from airflow_provider_ecsops.scalein.celery_config import SCALEIN_CELERY_CONFIG

    (ini,) = _quick_starts("ini")
    value = re.search(r"^celery_config_options\s*=\s*(\S+)$", ini, re.M).group(1)
    module, _, name = value.rpartition(".")
    assert getattr(importlib.import_module(module), name) is SCALEIN_CELERY_CONFIG


# Templates that are undefined (Airflow 3: missing from the context) for a run without a logical date.
LOGICAL_DATE_TEMPLATE = re.compile(
    r"{{[^}]*\b(ds|ds_nodash|ts|ts_nodash|ts_nodash_with_tz|logical_date|execution_date|data_interval_start|"
    r"data_interval_end|prev_ds|next_ds|prev_execution_date|next_execution_date|yesterday_ds|tomorrow_ds)\b"
)
EXAMPLES = sorted((ROOT / "example_dags").glob("*.py"))


@pytest.mark.parametrize(
    "name, source",
    [(f"quick start {i}", s) for i, s in enumerate(_quick_starts("python"))]
    + [(p.name, p.read_text()) for p in EXAMPLES],
)
def test_no_quick_start_or_example_dag_templates_the_logical_date(name, source):
    assert LOGICAL_DATE_TEMPLATE.search(source) is None, f"{name}: a manual Airflow 3 run has no logical date"


def test_the_logical_date_check_catches_ds():
    assert LOGICAL_DATE_TEMPLATE.search('command=["run", "--date", "{{ ds }}"]')
    assert LOGICAL_DATE_TEMPLATE.search("{{ dag_run.logical_date | ds }}")
    assert LOGICAL_DATE_TEMPLATE.search('"{{ run_id }}"') is None


# -- IAM ---------------------------------------------------------------------------------------------------------

# IAM prefixes that differ from botocore's service name, and actions that authorise an operation of another name.
IAM_PREFIX = {"mwaa": "airflow"}
IAM_ACTION_OF = {
    "s3:HeadBucket": "s3:ListBucket",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",  # SQS authorises its batch calls by the single action
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}
# Actions AWS checks on top of an operation's own, given the arguments the code always passes.
IMPLIED_ACTIONS = {
    "ecs:RunTask": {
        "ecs:TagResource",  # the run key is always a tag; RunTask with tags needs TagResource
        "iam:PassRole",  # the task definition's task and execution roles
    }
}
# Calls that return a boto3 client without naming it in ``client_type``: kombu's SQS channel.
CLIENT_FACTORIES = {"sqs": "sqs"}
# Library methods the code calls that make an AWS call of their own: kombu's SQS channel fills its queue-URL cache
# with ListQueues (QueueNamePrefix = the queue's name).
LIBRARY_CALLS = {"_update_queue_cache": "sqs:ListQueues"}
# Operations newer than the botocore some lines pin (MWAA 2.10.3: botocore 1.35.36), which the code calls where
# the client has them.
NEWER_OPERATIONS = {"mwaa": {"invoke_rest_api": "InvokeRestApi"}}  # botocore >= 1.35.74
CORE_MODULES = ("airflow_api", "aws_retry", "ecs_metadata", "compat", "_lazy")


def _capability_sources(capability: str) -> list[tuple[str, ast.AST]]:
    """(file, tree) of the capability's modules, plus the definitions it imports from the core (where a shared
    client lives)."""
    trees = [(p.name, ast.parse(p.read_text())) for p in sorted((PACKAGE / capability).glob("*.py"))]
    core: dict[str, set[str]] = {}
    for _, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "airflow_provider_ecsops."
            ):
                module = node.module.rsplit(".", 1)[1]
                if module in CORE_MODULES:
                    core.setdefault(module, set()).update(alias.name for alias in node.names)
    for module, names in core.items():
        tree = ast.parse((PACKAGE / f"{module}.py").read_text())
        trees += [(f"{module}.py", d) for d in tree.body if getattr(d, "name", None) in names]
    return trees


def _hook_client_type(module: str, name: str) -> str:
    """``client_type`` of an amazon provider hook class (``EcsHook`` -> ``ecs``)."""
    return getattr(importlib.import_module(module), name)(aws_conn_id=None).client_type


def _client_services(trees) -> set[str]:
    """The AWS services the code makes clients for: ``client_type="x"``, ``.client("x")``, amazon hooks."""
    services = set()
    for _, tree in trees:
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.keyword)
                and node.arg == "client_type"
                and isinstance(node.value, ast.Constant)
            ):
                services.add(node.value.value)
            elif isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name == "client" and node.args and isinstance(node.args[0], ast.Constant):
                    services.add(node.args[0].value)
                if name in CLIENT_FACTORIES:
                    services.add(CLIENT_FACTORIES[name])
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "airflow.providers.amazon.aws.hooks"
            ):
                services.update(
                    _hook_client_type(node.module, a.name) for a in node.names if a.name != "AwsBaseHook"
                )
    return services


def _called_actions(capability: str) -> dict[str, str]:
    """IAM action -> where the capability's code calls it (one place each)."""
    import botocore.session
    from botocore import xform_name

    trees = _capability_sources(capability)
    session = botocore.session.get_session()
    operations: dict[str, list[tuple[str, str]]] = {}
    for service in _client_services(trees):
        names = {xform_name(op): op for op in session.get_service_model(service).operation_names}
        for method, operation in {**NEWER_OPERATIONS.get(service, {}), **names}.items():
            operations.setdefault(method, []).append((service, operation))
    actions: dict[str, str] = {}
    for file, tree in trees:
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            name = node.func.attr
            if name in LIBRARY_CALLS:
                actions.setdefault(LIBRARY_CALLS[name], f"{name}() in {file}:{node.lineno}")
            if (
                name in ("get_paginator", "get_waiter")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                name = node.args[0].value
            matches = operations.get(name, [])
            assert len(matches) <= 1, f"{capability}: {name}() is an operation of several services: {matches}"
            for service, operation in matches:
                action = f"{IAM_PREFIX.get(service, service)}:{operation}"
                action = IAM_ACTION_OF.get(action, action)
                for needed in (action, *sorted(IMPLIED_ACTIONS.get(action, ()))):
                    actions.setdefault(needed, f"{name}() in {file}:{node.lineno}")
    return actions


def _policy_actions(capability: str) -> set[str]:
    doc = ROOT / "docs" / f"{capability}.md"
    policies = [
        json.loads(body)
        for lang, body in FENCE.findall(doc.read_text())
        if lang == "json" and '"Statement"' in body
    ]
    assert len(policies) == 1, f"{doc.name} must hold exactly one IAM policy"
    actions = set()
    for statement in policies[0]["Statement"]:
        action = statement["Action"]
        actions.update([action] if isinstance(action, str) else action)
    return actions


def test_the_call_scan_finds_the_calls_of_each_kind():
    # A scan that matched nothing would pass every policy with no AWS actions: pin one call of each shape.
    assert "ecs:ListTasks" in _called_actions("fargate")  # through get_paginator("list_tasks")
    assert "sts:GetCallerIdentity" in _called_actions("heartbeat")  # through self.client("sts")
    assert "sqs:ChangeMessageVisibility" in _called_actions("scalein")  # kombu's channel.sqs()
    assert "airflow:InvokeRestApi" in _called_actions("replication")  # the core's MwaaTransport


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_each_capability_policy_lists_exactly_the_aws_actions_its_code_calls(capability):
    called = _called_actions(capability)
    listed = _policy_actions(capability)
    assert not set(called) - listed, f"docs/{capability}.md lacks actions the code calls: " + ", ".join(
        f"{a} ({called[a]})" for a in sorted(set(called) - listed)
    )
    assert not listed - set(called), (
        f"docs/{capability}.md lists actions no code calls: {sorted(listed - set(called))}"
    )
