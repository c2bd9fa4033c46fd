"""User content as a list of parts, as the Hermes API server takes it, and what the
double records of the images in it.

Hermes (gateway/platforms/api_server.py, `_normalize_multimodal_content`, applied to
every user and assistant message of /v1/chat/completions) accepts text parts (`text`,
`input_text`, `output_text`), image parts (`image_url` with `{"url", "detail"?}`, or
`input_image` with a top-level `image_url` string) whose URL is http(s) or a
`data:image/...` URL, plain strings, and ignores other scalars. It refuses, with 400
and `param: "messages[<i>].content"`:
- `file` / `input_file` parts, and part types it does not know:
  `unsupported_content_type`;
- a `data:` URL that is not an image: `unsupported_content_type`;
- an image part without a URL, or with another scheme: `invalid_image_url`;
- an empty or non-string `detail`: `invalid_content_part`.
/v1/runs does none of this: its `input` list's last `content` goes to the agent as it
is (0.18.1 and the newest api_server_runs.py alike), so the double accepts it there.
"""

import base64
import binascii
import hashlib
import urllib.parse

TEXT_PART_TYPES = ("text", "input_text", "output_text")
IMAGE_PART_TYPES = ("image_url", "input_image")
FILE_PART_TYPES = ("file", "input_file")

# Hermes' texts, word for word: clients (and tests) may show them.
FILE_PARTS_REFUSED = ("Inline image inputs are supported, but uploaded files and document "
                      "inputs are not supported on this endpoint.")
NON_IMAGE_DATA_URL = ("Only image data URLs are supported. Non-image data payloads are not "
                      "supported.")
MISSING_IMAGE_URL = "Image parts must include a non-empty image URL."
BAD_IMAGE_SCHEME = "Image inputs must use http(s) URLs or data:image/... URLs."
BAD_DETAIL = "Image detail must be a non-empty string when provided."


class ContentError(ValueError):
    """A part Hermes refuses: its error code and message."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _image_url(part):
    """The URL and detail of an image part, in either API's spelling."""
    ref = part.get("image_url")
    detail = part.get("detail")
    if isinstance(ref, dict):
        return ref.get("url"), ref.get("detail", detail)
    return ref, detail


def check(content):
    """Raises ContentError where Hermes refuses this message content."""
    if not isinstance(content, list):
        return  # strings (and other scalars, stringified) are text
    for part in content:
        if not isinstance(part, dict):
            continue  # strings are text, other scalars are ignored
        raw_type = part.get("type")
        part_type = str(raw_type or "").strip().lower()
        if part_type in TEXT_PART_TYPES:
            continue
        if part_type in IMAGE_PART_TYPES:
            url, detail = _image_url(part)
            if not isinstance(url, str) or not url.strip():
                raise ContentError("invalid_image_url", MISSING_IMAGE_URL)
            lowered = url.strip().lower()
            if lowered.startswith("data:"):
                if not lowered.startswith("data:image/") or "," not in url:
                    raise ContentError("unsupported_content_type", NON_IMAGE_DATA_URL)
            elif not lowered.startswith(("http://", "https://")):
                raise ContentError("invalid_image_url", BAD_IMAGE_SCHEME)
            if detail is not None and (not isinstance(detail, str) or not detail.strip()):
                raise ContentError("invalid_content_part", BAD_DETAIL)
            continue
        if part_type in FILE_PART_TYPES:
            raise ContentError("unsupported_content_type", FILE_PARTS_REFUSED)
        raise ContentError("unsupported_content_type",
                           f"Unsupported content part type {raw_type!r}. Only text and "
                           "image_url/input_image parts are supported.")


def check_messages(messages):
    """(index, ContentError) of the first message Hermes refuses, else None. Only user
    and assistant messages are checked; system messages are flattened to text."""
    for i, message in enumerate(messages):
        if isinstance(message, dict) and message.get("role") in ("user", "assistant"):
            try:
                check(message.get("content", ""))
            except ContentError as e:
                return i, e
    return None


def describe_image(url):
    """What a test wants to know of one image: for a data URL its declared mimetype and
    the decoded bytes' length and SHA-256 (hex), for an http(s) URL the URL."""
    if not isinstance(url, str):
        return {"url": None}
    url = url.strip()
    if not url.lower().startswith("data:"):
        return {"url": url}
    header, _, payload = url[len("data:"):].partition(",")
    fields = header.split(";")
    described = {"mimetype": fields[0].strip().lower() or None}
    try:
        if any(f.strip().lower() == "base64" for f in fields[1:]):
            data = base64.b64decode("".join(payload.split()), validate=True)
        else:
            data = urllib.parse.unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        described.update(size=None, sha256=None, error="invalid base64")
        return described
    described.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    return described


def images_in(content):
    """The image parts of one message content, described, in order."""
    if not isinstance(content, list):
        return []
    found = []
    for part in content:
        if isinstance(part, dict) and str(part.get("type") or "").strip().lower() \
                in IMAGE_PART_TYPES:
            found.append(describe_image(_image_url(part)[0]))
    return found


def images_of_request(body):
    """Every image a chat completions (`messages`) or runs (`input` list) body carries,
    each with the index of its message and that message's role."""
    if not isinstance(body, dict):
        return []
    messages = body.get("messages")
    if not isinstance(messages, list):
        messages = body.get("input")
    if not isinstance(messages, list):
        return []
    images = []
    for i, message in enumerate(messages):
        if isinstance(message, dict):
            for image in images_in(message.get("content")):
                images.append({"message": i, "role": message.get("role"), **image})
    return images
