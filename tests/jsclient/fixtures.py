"""What the js-sdk test files share: the path to the repository's test tooling, the
warnings matrix-nio's Debian build raises, the npm packages check, a dev homeserver.
A test file does `from fixtures import *`."""

import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
for path in (REPO, REPO / "tests" / "integration"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
from person import npm_packages_missing  # noqa: E402
from tests.devhs.launcher import Homeserver  # noqa: E402

__all__ = ["npm_packages", "hs", "nio_warnings"]

# e2ee_support imports matrix-nio, whose Debian build imports modules Python 3.11
# deprecates (as tests/integration/conftest.py says).
nio_warnings = [pytest.mark.filterwarnings("ignore:the imp module is deprecated:DeprecationWarning"),
                pytest.mark.filterwarnings("ignore:'cgi' is deprecated:DeprecationWarning")]


@pytest.fixture(autouse=True)
def npm_packages():
    missing = npm_packages_missing()
    if missing:
        pytest.fail(missing)


@pytest.fixture
def hs(tmp_path):
    with Homeserver(str(tmp_path / "hs")) as server:
        yield server
