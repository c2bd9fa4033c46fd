"""The content repository: upload, download (authenticated per Matrix 1.11 and the
legacy unauthenticated API), thumbnails made with PIL, and the upload limit.

Answers follow Synapse's media repository (synapse/media/_base.py,
synapse/media/thumbnailer.py, synapse/rest/media/upload_resource.py): its headers,
its inline-or-attachment rule, its 404 `Not found '<path>'` and its 400 for a
thumbnail of something that is not an image. Media bytes live in files under the
state dir (`media/`), never inside the JSON snapshot; without a state dir, in memory.

Switches for the bot's fallback paths: `--no-authenticated-media` makes this a server
from before Matrix 1.11 (every /_matrix/client/v1/media/* is an unknown endpoint);
`--freeze-legacy-media` is Synapse's `enable_authenticated_media`: media uploaded
while it is on are not served by the legacy download and thumbnail endpoints.
"""

import asyncio
import io
import json
import os
import re
import urllib.parse

from .errors import MatrixError, invalid_param, missing_param
from .store import now_ms, random_id

# Synapse serves the media API under all of these; counts name it /_matrix/media/v3.
LEGACY = (r"/_matrix/media/(?:r0|v3|v1)", "/_matrix/media/v3")
AUTHENTICATED = "/_matrix/client/v1/media"

DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # Synapse's max_upload_size default
MEDIA_ID = re.compile(r"^[A-Za-z0-9_-]+$")   # the spec's media id characters
READ_CHUNK = 64 * 1024

# Synapse's lists (synapse/media/_base.py): text types get a UTF-8 charset, and only
# these types may be shown inline; everything else is a download.
TEXT_CONTENT_TYPES = {
    "text/css", "text/csv", "text/html", "text/calendar", "text/plain", "text/javascript",
    "application/json", "application/ld+json", "application/rtf", "image/svg+xml", "text/xml",
}
INLINE_CONTENT_TYPES = {
    "text/css", "text/plain", "text/csv", "application/json", "application/ld+json",
    "image/jpeg", "image/gif", "image/png", "image/apng", "image/webp", "image/avif",
    "video/mp4", "video/webm", "video/ogg", "video/quicktime", "audio/mp4", "audio/webm",
    "audio/aac", "audio/mpeg", "audio/ogg", "audio/wave", "audio/wav", "audio/x-wav",
    "audio/x-pn-wav", "audio/flac", "audio/x-flac",
}
_FILENAME_SEPARATORS = set('()<>@,;:\\"/[]?={}')

# Synapse's THUMBNAIL_SUPPORTED_MEDIA_FORMAT_MAP: what it thumbnails, and as what.
THUMBNAIL_FORMATS = {"image/jpeg": "jpeg", "image/jpg": "jpeg", "image/webp": "jpeg",
                     "image/gif": "png", "image/png": "png"}
# A decompression bomb must not take the test machine's memory: past this many
# pixels the image is treated as one that cannot be thumbnailed.
MAX_THUMBNAIL_SOURCE_PIXELS = 32 * 1024 * 1024


def register(r):
    r.add("POST", "/upload", upload, prefix=LEGACY)
    r.add("GET", "/config", config, prefix=LEGACY)
    r.add("GET", "/download/{serverName}/{mediaId}", legacy_download, auth=False, prefix=LEGACY)
    r.add("GET", "/download/{serverName}/{mediaId}/{fileName}", legacy_download, auth=False,
          prefix=LEGACY)
    r.add("GET", "/thumbnail/{serverName}/{mediaId}", legacy_thumbnail, auth=False, prefix=LEGACY)
    # Authenticated media: auth is checked in the handlers, so that a server without
    # them (--no-authenticated-media) answers 404 whether or not a token came.
    r.add("GET", AUTHENTICATED + "/config", config_v1, auth=False, client=False)
    r.add("GET", AUTHENTICATED + "/download/{serverName}/{mediaId}", download_v1, auth=False,
          client=False)
    r.add("GET", AUTHENTICATED + "/download/{serverName}/{mediaId}/{fileName}", download_v1,
          auth=False, client=False)
    r.add("GET", AUTHENTICATED + "/thumbnail/{serverName}/{mediaId}", thumbnail_v1, auth=False,
          client=False)


class MediaRepo:
    """Uploaded media: `<state_dir>/media/<id>` (the bytes) and `<id>.json` (type,
    name, size, uploader, whether it was uploaded as authenticated media), or a dict."""

    def __init__(self, state_dir):
        self.dir = os.path.join(state_dir, "media") if state_dir else None
        self.memory = {}  # media_id -> (info, bytes), without a state dir
        if self.dir:
            os.makedirs(self.dir, exist_ok=True)

    def _paths(self, media_id):
        return os.path.join(self.dir, media_id), os.path.join(self.dir, media_id + ".json")

    def put(self, info, data):
        media_id = random_id(18)
        if self.dir is None:
            self.memory[media_id] = (info, data)
            return media_id
        data_path, info_path = self._paths(media_id)
        for path, payload in ((data_path, data), (info_path, json.dumps(info).encode())):
            with open(path + ".tmp", "wb") as f:
                f.write(payload)
            os.replace(path + ".tmp", path)
        return media_id

    def info(self, media_id):
        if not MEDIA_ID.match(media_id):  # never a path outside the media dir
            return None
        if self.dir is None:
            found = self.memory.get(media_id)
            return found[0] if found else None
        try:
            with open(self._paths(media_id)[1], encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def data(self, media_id):
        if self.dir is None:
            return self.memory[media_id][1]
        with open(self._paths(media_id)[0], "rb") as f:
            return f.read()


# -- helpers ---------------------------------------------------------------------------


def _not_found(ctx):
    # Synapse's respond_404: the request's path (without the query) in the text.
    return MatrixError(404, "M_NOT_FOUND", f"Not found '{ctx.request.path}'")


def _authenticated_media_on(ctx):
    """A server from before Matrix 1.11 has no /_matrix/client/v1/media endpoints."""
    if ctx.server.args.no_authenticated_media:
        raise MatrixError(404, "M_UNRECOGNIZED", "Unrecognized request")


def _require_user(ctx):
    # The route takes no token on its own (see register); a missing or unknown one
    # gets the same 401 as on any authenticated endpoint.
    if ctx.user_id is None:
        ctx.server._authenticate(ctx, True)


def _local_media(ctx):
    """The stored media the path names, else 404 (another server's media too: there is
    no federation here)."""
    if ctx.params["serverName"] != ctx.store.server_name:
        raise _not_found(ctx)
    info = ctx.server.media.info(ctx.params["mediaId"])
    if info is None:
        raise _not_found(ctx)
    return info


def _frozen_for_legacy(ctx, info):
    """Synapse with enable_authenticated_media: media uploaded under it are not served
    unauthenticated (404), older media still are."""
    if ctx.server.args.freeze_legacy_media and info.get("authenticated"):
        raise _not_found(ctx)


def _can_encode_filename_as_token(name):
    return all(32 < ord(c) < 127 and c not in _FILENAME_SEPARATORS for c in name)


def file_headers(media_type, upload_name):
    """Synapse's add_file_headers (aiohttp adds the Content-Length), plus the security
    headers its media resources set."""
    if media_type.lower() in TEXT_CONTENT_TYPES:
        content_type = media_type + "; charset=UTF-8"
    else:
        content_type = media_type
    base = media_type.lower().split(";", 1)[0].strip()
    disposition = "inline" if base in INLINE_CONTENT_TYPES else "attachment"
    if upload_name:
        if _can_encode_filename_as_token(upload_name):
            disposition += f"; filename={upload_name}"
        else:
            disposition += "; filename*=utf-8''" + urllib.parse.quote(upload_name.encode("utf-8"))
    return {
        "Content-Type": content_type,
        "Content-Disposition": disposition,
        "Cache-Control": "public,max-age=86400,s-maxage=86400",
        "X-Robots-Tag": "noindex, nofollow, noarchive, noimageindex",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "Content-Security-Policy": ("sandbox; default-src 'none'; script-src 'none'; "
                                    "plugin-types application/pdf; style-src 'unsafe-inline'; "
                                    "media-src 'self'; object-src 'self';"),
        "X-Content-Security-Policy": "sandbox;",
        "Referrer-Policy": "no-referrer",
    }


def _bytes_response(body, headers):
    from aiohttp import web
    # Content-Type given as a header keeps the exact stored type (aiohttp would
    # otherwise parse and rebuild it).
    return web.Response(body=body, headers=headers)


# -- upload and config -----------------------------------------------------------------


async def upload(ctx):
    """POST /_matrix/media/v3/upload: the raw body is the media (Synapse's checks, in
    its order: a Content-Length, the size limit, the file name)."""
    limit = ctx.server.args.max_upload_bytes
    length = ctx.request.headers.get("Content-Length")
    if length is None:
        raise MatrixError(400, "M_UNKNOWN", "Request must specify a Content-Length")
    try:
        length = int(length)
    except ValueError:
        raise MatrixError(400, "M_UNKNOWN", "Content-Length must be an integer")
    if length > limit:
        raise MatrixError(413, "M_TOO_LARGE", "Upload request body is too large")
    upload_name = None
    try:
        for key, value in urllib.parse.parse_qsl(ctx.request.rel_url.raw_query_string,
                                                 keep_blank_values=True, errors="strict"):
            if key == "filename" and value:
                upload_name = value
    except UnicodeDecodeError:
        raise MatrixError(400, "M_UNKNOWN", "Query parameter 'filename' must be encoded in utf-8")
    # Read no more than was promised (and allowed): memory stays bounded by the limit.
    chunks, got = [], 0
    while got < length:
        chunk = await ctx.request.content.read(min(READ_CHUNK, length - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    if got < length:
        # The client went away mid-body: nothing half-uploaded is kept.
        raise MatrixError(400, "M_UNKNOWN", "Upload body shorter than its Content-Length")
    data = b"".join(chunks)
    media_type = ctx.request.headers.get("Content-Type") or "application/octet-stream"
    info = {"content_type": media_type, "upload_name": upload_name, "size": len(data),
            "user_id": ctx.user_id, "created_ts": now_ms(),
            # Synapse marks media uploaded under enable_authenticated_media.
            "authenticated": bool(ctx.server.args.freeze_legacy_media)}
    media_id = await asyncio.to_thread(ctx.server.media.put, info, data)
    return {"content_uri": f"mxc://{ctx.store.server_name}/{media_id}"}


async def config(ctx):
    return {"m.upload.size": ctx.server.args.max_upload_bytes}


async def config_v1(ctx):
    _authenticated_media_on(ctx)
    _require_user(ctx)
    return await config(ctx)


# -- downloads -------------------------------------------------------------------------


async def _download(ctx):
    info = _local_media(ctx)
    data = await asyncio.to_thread(ctx.server.media.data, ctx.params["mediaId"])
    # A name in the path overrides the uploaded one, as in Synapse.
    name = ctx.params.get("fileName") or info.get("upload_name")
    return info, _bytes_response(data, file_headers(info["content_type"], name))


async def legacy_download(ctx):
    info = _local_media(ctx)
    _frozen_for_legacy(ctx, info)
    return (await _download(ctx))[1]


async def download_v1(ctx):
    _authenticated_media_on(ctx)
    _require_user(ctx)
    return (await _download(ctx))[1]


# -- thumbnails ------------------------------------------------------------------------


def _dimension(ctx, name):
    raw = ctx.query.get(name)
    if raw is None:
        raise missing_param(f"Missing integer query parameter '{name}'")
    try:
        value = int(raw)
    except ValueError:
        raise invalid_param(f"Query parameter '{name}' must be an integer")
    if value <= 0:
        raise invalid_param(f"Query parameter '{name}' must be positive")
    return value


def make_thumbnail(data, width, height, method, out_format):
    """A thumbnail no larger than the source (the spec: never upscale). `scale` fits
    the image inside width x height keeping its aspect; `crop` covers the box, then
    cuts the middle to the box (clamped to the source). None when PIL cannot read it."""
    from PIL import Image, ImageOps
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_THUMBNAIL_SOURCE_PIXELS:
                return None
            img = ImageOps.exif_transpose(img)  # as a viewer shows it
            src_w, src_h = img.size
            if method == "crop":
                factor = min(1.0, max(width / src_w, height / src_h))
                scaled = img.resize((max(1, round(src_w * factor)), max(1, round(src_h * factor))))
                box_w, box_h = min(width, scaled.width), min(height, scaled.height)
                left, top = (scaled.width - box_w) // 2, (scaled.height - box_h) // 2
                thumb = scaled.crop((left, top, left + box_w, top + box_h))
            else:
                factor = min(1.0, width / src_w, height / src_h)
                thumb = img.resize((max(1, round(src_w * factor)), max(1, round(src_h * factor))))
            if out_format == "jpeg" and thumb.mode not in ("RGB", "L"):
                thumb = thumb.convert("RGB")
            out = io.BytesIO()
            thumb.save(out, format=out_format.upper())
            return out.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None


async def _thumbnail(ctx):
    info = _local_media(ctx)
    width, height = _dimension(ctx, "width"), _dimension(ctx, "height")
    method = ctx.query.get("method", "scale")
    if method not in ("crop", "scale"):
        raise invalid_param("method must be crop or scale")
    out_format = THUMBNAIL_FORMATS.get(info["content_type"].lower().split(";", 1)[0].strip())
    thumb = None
    if out_format is not None:
        data = await asyncio.to_thread(ctx.server.media.data, ctx.params["mediaId"])
        thumb = await asyncio.to_thread(make_thumbnail, data, width, height, method, out_format)
    if thumb is None:
        # Synapse without dynamic thumbnails, for media it made none of.
        raise MatrixError(
            400, "M_UNKNOWN",
            f"Cannot find any thumbnails for the requested media ('{ctx.request.path}'). This "
            "might mean the media is not a supported_media_format=(image/jpeg, image/jpg, "
            "image/webp, image/gif, image/png) or that thumbnailing failed for some other "
            "reason. (Dynamic thumbnails are disabled on this server.)")
    return _bytes_response(thumb, file_headers("image/" + out_format, None))


async def legacy_thumbnail(ctx):
    _frozen_for_legacy(ctx, _local_media(ctx))
    return await _thumbnail(ctx)


async def thumbnail_v1(ctx):
    _authenticated_media_on(ctx)
    _require_user(ctx)
    return await _thumbnail(ctx)
