"""The ``[ecsops]`` options, declared once: each capability's settings dataclass names its options (field
``<prefix><name>``), their defaults (the field defaults), examples and sensitivity (field metadata) and
descriptions (the class docstring's ``:param name:`` lines).

``provider_options`` turns such a dataclass into the provider info's ``config`` entries (so ``get_provider_info``
imports nothing beyond the standard library and these dataclasses); ``read_options`` reads it back from Airflow's
configuration, falling back to the same defaults.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import MISSING, Field, fields
from typing import Any, TypeVar

SECTION = "ecsops"
VERSION_ADDED = "0.1.0"  # a field's metadata ``version_added`` overrides it for options added later

_PARAM = re.compile(r"^:param (\w+):(.*(?:\n(?!:)[ \t]+.*)*)", re.MULTILINE)
_TYPES = {bool: "boolean", int: "integer", float: "float", str: "string"}

T = TypeVar("T")


def descriptions(cls: type) -> dict[str, str]:
    """``:param name: text`` of ``cls``'s docstring, continuation lines joined."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    return {name: " ".join(text.split()) for name, text in _PARAM.findall(doc)}


def _default(f: Field) -> Any:
    if f.default is MISSING:
        raise TypeError(f"{f.name}: an [{SECTION}] option needs a default")
    return f.default


def provider_options(cls: type, prefix: str) -> dict[str, dict[str, Any]]:
    """The provider info ``config`` options of settings dataclass ``cls``, named ``<prefix><field>``."""
    described = descriptions(cls)
    options: dict[str, dict[str, Any]] = {}
    for f in fields(cls):
        default = _default(f)
        if f.name not in described or "example" not in f.metadata:
            raise TypeError(f"{cls.__name__}.{f.name}: needs a :param: line and an example in its metadata")
        option = {
            "description": described[f.name],
            "version_added": f.metadata.get("version_added", VERSION_ADDED),
            "type": _TYPES[type(default)],
            "example": f.metadata["example"],
            "default": f"{default:g}" if isinstance(default, float) else str(default),
        }
        if f.metadata.get("sensitive"):
            option["sensitive"] = True  # `airflow config list --show-values` masks it
        options[prefix + f.name] = option
    return options


def read_options(cls: type[T], prefix: str, **given: Any) -> T:
    """``cls`` filled from ``[ecsops] <prefix><field>``, else the field defaults; ``given`` values that are not
    None win over both (an operator argument over the configuration)."""
    from airflow_provider_ecsops.compat import conf

    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        key, default = prefix + f.name, _default(f)
        if given.get(f.name) is not None:
            values[f.name] = given[f.name]
        elif isinstance(default, bool):
            values[f.name] = conf.getboolean(SECTION, key, fallback=default)
        elif isinstance(default, int):
            values[f.name] = conf.getint(SECTION, key, fallback=default)
        elif isinstance(default, float):
            values[f.name] = conf.getfloat(SECTION, key, fallback=default)
        else:  # an option registered with an empty default may come back as None
            values[f.name] = conf.get(SECTION, key, fallback=default) or default
    return cls(**values)
