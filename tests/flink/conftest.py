"""Make the flinkops real-Flink fixtures available to the tests in tests/flink.

If the repository's root conftest already registers ``tests.flink.pytest_plugin``, this
star-import only re-declares the same fixtures; both share one cluster pool per session.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pytest_plugin import (  # noqa: E402,F401 pylint: disable=unused-import
    flink_cluster,
    flink_cluster_pool,
    flink_versions,
    unique_job_name,
)
