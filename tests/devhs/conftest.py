"""Starts dev homeservers for the self-test and gives tests a small raw client."""

import json

import aiohttp
import pytest

from .launcher import Homeserver


def pytest_configure(config):
    # Debian's nio 0.20 (and python3-future under it) import modules Python 3.11
    # deprecates; not ours to fix, and they would bury our own warnings.
    for message in ("the imp module is deprecated", "'cgi' is deprecated"):
        config.addinivalue_line("filterwarnings", f"ignore:{message}:DeprecationWarning")


@pytest.fixture(scope="module")
def hs(tmp_path_factory):
    server = Homeserver(str(tmp_path_factory.mktemp("devhs")))
    yield server
    server.stop()


@pytest.fixture
def start_hs(tmp_path):
    """Starts servers on demand (same state dir each time) and stops them after."""
    started = []

    def start(*extra):
        server = Homeserver(str(tmp_path / "state"), *extra)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


class Raw:
    """Plain HTTP for what nio hides: status codes, headers, exact bodies."""

    def __init__(self, url, session, token=None):
        self.url, self.session, self.token = url, session, token

    async def call(self, method, path, body=None, token=None, **query):
        token = token or self.token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        path = path if path.startswith("/_") else "/_matrix/client/v3" + path
        async with self.session.request(method, self.url + path, headers=headers, params=query,
                                        data=None if body is None else json.dumps(body)) as resp:
            text = await resp.text()
            try:
                data = json.loads(text)
            except ValueError:
                data = text
            return resp.status, data, resp.headers

    async def ok(self, method, path, body=None, **query):
        status, data, _ = await self.call(method, path, body, **query)
        assert status == 200, (method, path, status, data)
        return data

    async def register(self, name, password="pw"):
        data = await self.ok("POST", "/register", {"username": name, "password": password,
                                                   "auth": {"type": "m.login.dummy"}})
        return Raw(self.url, self.session, data["access_token"]), data


async def raw_session(url):
    session = aiohttp.ClientSession()
    return Raw(url, session), session
