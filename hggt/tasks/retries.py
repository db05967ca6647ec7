"""Which failures a task retries: transient storage and network errors, with backoff; never
permanent ones (permissions, a full disk, missing files, bad input), which a retry cannot fix."""

from __future__ import annotations

import errno
from typing import Any

TRANSIENT_ERRNOS = {errno.EAGAIN, errno.ETIMEDOUT, errno.ECONNRESET, errno.ECONNABORTED, errno.ECONNREFUSED, errno.EHOSTUNREACH,
                    errno.ENETUNREACH, errno.EBUSY}
# Names of the transient errors of botocore, aiohttp and s3fs, matched by name to avoid importing them.
TRANSIENT_NAMES = {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ClientConnectorError",
                   "ServerDisconnectedError", "ClientPayloadError", "SlowDown", "ServiceUnavailable", "RequestTimeout"}


def is_transient(exc: BaseException | None) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (ConnectionError, TimeoutError)) or type(exc).__name__ in TRANSIENT_NAMES:
            return True
        if isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def retry_transient(_task: Any, _task_run: Any, state: Any) -> bool:
    data = getattr(state, "data", None)
    return isinstance(data, BaseException) and is_transient(data)


# Keyword arguments of every shard task: three retries after 2, 10 and 30 seconds.
RETRIES = {"retries": 3, "retry_delay_seconds": [2, 10, 30], "retry_condition_fn": retry_transient}
