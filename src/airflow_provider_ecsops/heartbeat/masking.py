"""Keep credentials out of probe errors, logs and metrics."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

MASK = "***"

# scheme://user:password@host -> scheme://***@host
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")
_SECRET_WORDS = r"(?:passw(?:or)?d|pwd|secret|token|signature|api[_-]?key|access[_-]?key|credential)"
# ?token=..., &X-Amz-Signature=..., password=... in query strings, DSNs and messages
_SECRET_PARAM = re.compile(
    rf"(?i)(?P<key>\b[\w.-]*{_SECRET_WORDS}[\w.-]*)(?P<sep>=|:\s*)(?P<value>[^&\s'\",;]+)"
)
# AWS access key ids (long-term AKIA and temporary ASIA)
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")


def mask(text: str, secrets: Iterable[str | None] = ()) -> str:
    """
    Return ``text`` with credentials replaced by ``***``.

    :param text: a message that may contain URLs, DSNs or secret values.
    :param secrets: literal values to hide as well (a connection's password, extra secrets), also
        in their URL-quoted form; values shorter than 4 characters are ignored so masking stays readable.
    """
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK).replace(quote(secret, safe=""), MASK)
    text = _URL_USERINFO.sub(rf"\g<scheme>{MASK}@", text)
    text = _SECRET_PARAM.sub(rf"\g<key>\g<sep>{MASK}", text)
    return _AWS_KEY_ID.sub(MASK, text)


def is_secret_key(name: str) -> bool:
    """Whether a field called ``name`` (a connection extra key, a query parameter) holds a credential."""
    return re.search(_SECRET_WORDS, name, re.IGNORECASE) is not None
