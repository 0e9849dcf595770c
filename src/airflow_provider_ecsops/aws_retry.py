"""Which AWS errors are transient, and how long to back off before trying again."""

from __future__ import annotations

import random
from collections.abc import Iterator

THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
    }
)
SERVER_CODES = frozenset({"ServerException", "InternalFailure", "ServiceUnavailable", "InternalError"})


def is_transient(exc: BaseException) -> bool:
    """Throttling, a 5xx answer, or a connection/read error: worth waiting out, never a reason to fail."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, (ConnectionError, HTTPClientError)):
        return True
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in THROTTLING_CODES or code in SERVER_CODES or status >= 500
    return False


def backoff(base: float, cap: float) -> Iterator[float]:
    """Exponential backoff with full jitter (AWS architecture blog): delays for attempt 1, 2, 3, ..."""
    attempt = 0
    while True:
        yield random.uniform(0, min(cap, base * 2**attempt))
        attempt += 1


def error_text(exc: BaseException) -> str:
    """AWS's own code and message where there is one."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'Error')}: {err.get('Message', str(exc))}"
    return f"{type(exc).__name__}: {exc}"
