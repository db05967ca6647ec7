"""Test-wide setup. Prefect reads its settings at import, so its home, analytics and logging
are set here, before any test module imports it."""

import os
import tempfile

_home = tempfile.mkdtemp(prefix="hggt-test-prefect-")
os.environ["PREFECT_HOME"] = _home
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
os.environ["HGGT_NO_PROGRESS"] = "1"
# Commands in tests use Prefect's temporary server; tests/flows/test_local_server.py opts in to the shared one.
os.environ["HGGT_LOCAL_SERVER"] = "0"
os.environ.pop("PREFECT_API_URL", None)
