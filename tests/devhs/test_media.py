"""Self-test of the dev homeserver's content repository (media.py): uploads, both
download APIs, thumbnails, the size limit, the switches for older homeservers, and
a matrix-nio client against it."""

import hashlib
import io
import os

import aiohttp
from nio import AsyncClient, DownloadResponse, UploadResponse
from PIL import Image

from .conftest import raw_session
from .test_devhs import name, nio_user, run_async

V1 = "/_matrix/client/v1/media"
V3 = "/_matrix/media/v3"


def png(width, height, colour=(200, 30, 40)):
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


async def upload(session, url, token, data, content_type="application/octet-stream",
                 filename=None, prefix=V3):
    params = {"filename": filename} if filename is not None else {}
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with session.post(f"{url}{prefix}/upload", data=data, params=params,
                            headers=headers) as resp:
        return resp.status, await resp.json()


async def get(session, url, path, token=None, **query):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.get(url + path, headers=headers, params=query) as resp:
        return resp.status, resp.headers, await resp.read()


def media_path(content_uri):
    assert content_uri.startswith("mxc://localhost/")
    return content_uri[len("mxc://"):]


@run_async
async def test_upload_and_both_downloads_give_the_same_bytes(hs):
    raw, session = await raw_session(hs.url)
    user, _ = await raw.register(name("up"))
    data = os.urandom(300_000)
    status, body = await upload(session, hs.url, user.token, data, "application/pdf",
                                filename="report 2024.pdf")
    assert status == 200, body
    path = media_path(body["content_uri"])

    status, headers, got = await get(session, hs.url, f"{V1}/download/{path}", user.token)
    assert status == 200 and got == data
    assert headers["Content-Type"] == "application/pdf"
    # Not an inline type: a download, with the uploaded name (not a token: RFC 5987).
    assert headers["Content-Disposition"] == "attachment; filename*=utf-8''report%202024.pdf"

    status, headers, got = await get(session, hs.url, f"{V3}/download/{path}")  # no token
    assert status == 200 and hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    # The name in the path wins; r0 (nio's prefix) is the same legacy API.
    status, headers, got = await get(session, hs.url, f"/_matrix/media/r0/download/{path}/x.bin")
    assert status == 200 and got == data
    assert headers["Content-Disposition"] == "attachment; filename=x.bin"

    # An image is shown inline; a text type gets Synapse's UTF-8 charset.
    image = png(4, 3)
    _, body = await upload(session, hs.url, user.token, image, "image/png", filename="a.png")
    status, headers, got = await get(session, hs.url, f"{V1}/download/{media_path(body['content_uri'])}",
                                     user.token)
    assert got == image and headers["Content-Disposition"] == "inline; filename=a.png"
    _, body = await upload(session, hs.url, user.token, b"hi", "text/plain")
    _, headers, _ = await get(session, hs.url, f"{V3}/download/{media_path(body['content_uri'])}")
    assert headers["Content-Type"] == "text/plain; charset=UTF-8"
    assert headers["Content-Disposition"] == "inline"
    await session.close()


@run_async
async def test_requests_are_counted_per_media_endpoint(hs):
    # Each endpoint is counted under its own name: a test can tell which one a bot used.
    raw, session = await raw_session(hs.url)
    user, reg = await raw.register(name("count"))
    _, body = await upload(session, hs.url, user.token, b"abc")
    path = media_path(body["content_uri"])
    await get(session, hs.url, f"{V1}/download/{path}", user.token)
    await get(session, hs.url, f"{V1}/download/{path}/f.txt", user.token)
    await get(session, hs.url, f"/_matrix/media/r0/download/{path}", user.token)
    await get(session, hs.url, f"{V3}/download/{path}")  # anonymous
    counts = (await raw.ok("GET", "/_devhs/requests", user_id=reg["user_id"]))[reg["user_id"]]
    assert counts["POST /_matrix/media/v3/upload"] == 1
    assert counts[f"GET {V1}/download/{{serverName}}/{{mediaId}}"] == 1
    assert counts[f"GET {V1}/download/{{serverName}}/{{mediaId}}/{{fileName}}"] == 1
    assert counts["GET /_matrix/media/v3/download/{serverName}/{mediaId}"] == 1
    anonymous = (await raw.ok("GET", "/_devhs/requests", user_id="anonymous"))["anonymous"]
    assert anonymous["GET /_matrix/media/v3/download/{serverName}/{mediaId}"] >= 1

    # Faults reach media endpoints like any other.
    await raw.ok("POST", "/_devhs/faults", {"user_id": reg["user_id"], "kind": "fail",
                                            "mode": "500", "count": 1,
                                            "path_contains": "/media/download/"})
    status, _, _ = await get(session, hs.url, f"{V1}/download/{path}", user.token)
    assert status == 500
    status, _, got = await get(session, hs.url, f"{V1}/download/{path}", user.token)
    assert status == 200 and got == b"abc"
    await session.close()


@run_async
async def test_authentication_and_unknown_media(hs):
    raw, session = await raw_session(hs.url)
    user, _ = await raw.register(name("auth"))
    status, body = await upload(session, hs.url, None, b"x")
    assert status == 401 and body["errcode"] == "M_MISSING_TOKEN"
    _, body = await upload(session, hs.url, user.token, b"secret bytes")
    path = media_path(body["content_uri"])
    for url_path in (f"{V1}/download/{path}", f"{V1}/thumbnail/{path}", f"{V1}/config"):
        status, _, body = await get(session, hs.url, url_path)
        assert status == 401 and b"M_MISSING_TOKEN" in body, url_path
        status, _, body = await get(session, hs.url, url_path, "syt_not_a_token")
        assert status == 401 and b"M_UNKNOWN_TOKEN" in body, url_path

    for url_path in (f"{V1}/download/localhost/NoSuchMedia", f"{V3}/download/localhost/NoSuchMedia",
                     f"{V1}/download/other.example/{path.split('/')[1]}",
                     f"{V1}/download/localhost/..%2F..%2Fdevhs-state.json"):
        status, _, body = await get(session, hs.url, url_path, user.token)
        assert status == 404 and b"M_NOT_FOUND" in body, url_path

    status, _, body = await get(session, hs.url, f"{V1}/config", user.token)
    assert status == 200 and b'"m.upload.size": 52428800' in body
    versions = await raw.ok("GET", "/_matrix/client/versions")
    assert "v1.11" in versions["versions"]
    await session.close()


@run_async
async def test_upload_limit(start_hs):
    hs = start_hs("--max-upload-bytes", "1000")
    raw, session = await raw_session(hs.url)
    user, _ = await raw.register(name("big"))
    status, body = await upload(session, hs.url, user.token, b"y" * 1001)
    assert status == 413 and body["errcode"] == "M_TOO_LARGE"
    status, body = await upload(session, hs.url, user.token, b"y" * 1000)
    assert status == 200
    for path in (f"{V1}/config", f"{V3}/config"):
        status, _, got = await get(session, hs.url, path, user.token)
        assert status == 200 and got == b'{"m.upload.size": 1000}'
    # Without a Content-Length (chunked) Synapse refuses the upload.

    async def chunks():
        yield b"abc"
    async with session.post(f"{hs.url}{V3}/upload", data=chunks(),
                            headers={"Authorization": f"Bearer {user.token}"}) as resp:
        assert resp.status == 400
    await session.close()


@run_async
async def test_media_persist_in_the_state_dir(start_hs, tmp_path):
    hs = start_hs()
    raw, session = await raw_session(hs.url)
    user, _ = await raw.register(name("keep"))
    _, body = await upload(session, hs.url, user.token, b"kept across restarts", "text/plain")
    await session.close()
    hs.stop()
    assert any(f.endswith(".json") for f in os.listdir(tmp_path / "state" / "media"))
    state = (tmp_path / "state" / "devhs-state.json").read_text()
    assert "kept across restarts" not in state  # files, not inside the JSON snapshot
    hs = start_hs()
    async with aiohttp.ClientSession() as session:
        status, _, got = await get(session, hs.url, f"{V3}/download/{media_path(body['content_uri'])}")
    assert status == 200 and got == b"kept across restarts"


@run_async
async def test_a_homeserver_without_authenticated_media(start_hs):
    hs = start_hs("--no-authenticated-media")
    raw, session = await raw_session(hs.url)
    user, _ = await raw.register(name("old"))
    _, body = await upload(session, hs.url, user.token, b"old server")
    path = media_path(body["content_uri"])
    for token in (user.token, None):
        for url_path in (f"{V1}/download/{path}", f"{V1}/thumbnail/{path}", f"{V1}/config"):
            status, _, got = await get(session, hs.url, url_path, token, width=8, height=8)
            assert status == 404 and b'"M_UNRECOGNIZED"' in got and b"Unrecognized request" in got
    status, _, got = await get(session, hs.url, f"{V3}/download/{path}")
    assert status == 200 and got == b"old server"
    assert "v1.11" not in (await raw.ok("GET", "/_matrix/client/versions"))["versions"]
    await session.close()


@run_async
async def test_frozen_legacy_media(start_hs):
    hs = start_hs("--freeze-legacy-media")
    raw, session = await raw_session(hs.url)
    user, _ = await raw.register(name("frozen"))
    _, body = await upload(session, hs.url, user.token, png(20, 10), "image/png")
    path = media_path(body["content_uri"])
    for url_path in (f"{V3}/download/{path}", f"/_matrix/media/r0/download/{path}",
                     f"{V3}/thumbnail/{path}"):
        status, _, got = await get(session, hs.url, url_path, user.token, width=8, height=8)
        assert status == 404 and b'"M_NOT_FOUND"' in got, url_path
    status, _, got = await get(session, hs.url, f"{V1}/download/{path}", user.token)
    assert status == 200 and got == png(20, 10)
    status, _, _ = await get(session, hs.url, f"{V1}/thumbnail/{path}", user.token, width=8, height=8)
    assert status == 200
    await session.close()


@run_async
async def test_thumbnails_scale_and_crop(hs):
    raw, session = await raw_session(hs.url)
    user, _ = await raw.register(name("thumb"))
    _, body = await upload(session, hs.url, user.token, png(400, 200), "image/png")
    path = media_path(body["content_uri"])

    async def thumb(prefix=V1, **query):
        status, headers, got = await get(session, hs.url, f"{prefix}/thumbnail/{path}",
                                         user.token, **query)
        assert status == 200, got
        assert headers["Content-Type"] == "image/png"
        return Image.open(io.BytesIO(got))

    assert (await thumb(width=100, height=100, method="scale")).size == (100, 50)
    assert (await thumb(width=100, height=100)).size == (100, 50)  # scale is the default
    cropped = await thumb(width=100, height=100, method="crop")
    assert cropped.size == (100, 100) and cropped.getpixel((50, 50)) == (200, 30, 40)
    assert (await thumb(prefix=V3, width=40, height=30, method="crop")).size == (40, 30)
    # Never larger than the source.
    assert (await thumb(width=1000, height=1000)).size == (400, 200)

    status, _, got = await get(session, hs.url, f"{V1}/thumbnail/{path}", user.token, height=5)
    assert status == 400 and b"M_MISSING_PARAM" in got
    status, _, got = await get(session, hs.url, f"{V1}/thumbnail/{path}", user.token,
                               width="x", height=5)
    assert status == 400 and b"M_INVALID_PARAM" in got
    # Not an image (or a broken one): Synapse's 400 M_UNKNOWN.
    for data, ctype in ((b"%PDF-1.4", "application/pdf"), (b"not a png", "image/png")):
        _, body = await upload(session, hs.url, user.token, data, ctype)
        status, _, got = await get(session, hs.url, f"{V1}/thumbnail/{media_path(body['content_uri'])}",
                                   user.token, width=8, height=8)
        assert status == 400 and b"M_UNKNOWN" in got and b"Cannot find any thumbnails" in got
    await session.close()


@run_async
async def test_nio_uploads_and_downloads(hs):
    client = await nio_user(hs, "nio")
    data = png(16, 16, (1, 2, 3))
    resp, keys = await client.upload(io.BytesIO(data), content_type="image/png",
                                     filename="tiny.png", filesize=len(data))
    assert isinstance(resp, UploadResponse) and keys is None
    got = await client.download(resp.content_uri)
    assert isinstance(got, DownloadResponse)
    assert got.body == data and got.content_type == "image/png" and got.filename == "tiny.png"
    thumb = await client.thumbnail(*media_path(resp.content_uri).split("/"), width=8, height=8)
    assert Image.open(io.BytesIO(thumb.body)).size == (8, 8)
    # An encrypted attachment is just bytes to the server: nio decrypts what it uploaded.
    from nio.crypto.attachments import decrypt_attachment
    resp, keys = await client.upload(io.BytesIO(b"secret file"), filename="s.txt",
                                     encrypt=True, filesize=len(b"secret file"))
    got = await client.download(resp.content_uri)
    assert got.body != b"secret file"
    assert decrypt_attachment(got.body, keys["key"]["k"], keys["hashes"]["sha256"],
                              keys["iv"]) == b"secret file"
    await client.close()
    assert isinstance(client, AsyncClient)
