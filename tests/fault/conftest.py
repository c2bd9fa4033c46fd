"""The integration tests' pytest hooks (warning filters, the gateway's stderr on
failure, the secrets audit hand-off), loaded from tests/integration/conftest.py."""

import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location(
    "integration_conftest", pathlib.Path(__file__).parents[1] / "integration" / "conftest.py")
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)

pytest_configure = _integration.pytest_configure
pytest_runtest_makereport = _integration.pytest_runtest_makereport
pytest_sessionfinish = _integration.pytest_sessionfinish
hermes_home = _integration.hermes_home
