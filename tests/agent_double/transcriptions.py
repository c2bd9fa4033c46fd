"""`POST /v1/audio/transcriptions`: an OpenAI-compatible speech-to-text endpoint (what
OpenAI, Groq and local whisper servers offer), standing in for the STT server a
profile's `stt` settings name. Usage: README.md in this folder.

The form is OpenAI's: multipart/form-data with `file` (required), `model` (required),
`language`, `prompt`, `response_format` (json, text, verbose_json, srt, vtt). The
answer's text comes from the script of the form's `model` (a script set with
`"model": "whisper-1"`; global and profile scripts are left to the turns), key
`transcript`; by default `transcript of <n> bytes`. Its `status`/`error_body` and
`hang` apply too, so a test can make the STT server fail or hang.
"""

import asyncio
import hashlib

from aiohttp import web

import scripts

# OpenAI's limit for one audio file (Groq's free tier has the same); the double reads
# no more than this, whatever the client sends.
MAX_AUDIO_BYTES = 25 * 1024 * 1024
MAX_FIELD_BYTES = 64 * 1024
RESPONSE_FORMATS = ("json", "text", "verbose_json", "srt", "vtt")
TEXT_FIELDS = ("model", "language", "prompt", "response_format", "temperature")


def error(status, message, param=None, code=None, err_type="invalid_request_error"):
    """OpenAI's error body."""
    return web.json_response({"error": {"message": message, "type": err_type, "param": param,
                                        "code": code}}, status=status)


class TooLarge(Exception):
    pass


async def _read_part(part, limit):
    chunks, size = [], 0
    while True:
        chunk = await part.read_chunk(64 * 1024)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise TooLarge()
        chunks.append(chunk)


async def read_form(request):
    """(text fields, (filename, content type, bytes) or None); ValueError when the body
    is not multipart/form-data, TooLarge past MAX_AUDIO_BYTES."""
    if not request.content_type.startswith("multipart/"):
        raise ValueError("not multipart")
    reader = await request.multipart()
    fields, audio = {}, None
    while True:
        part = await reader.next()
        if part is None:
            return fields, audio
        if part.name == "file" and part.filename is not None:
            data = await _read_part(part, MAX_AUDIO_BYTES)
            audio = (part.filename, part.headers.get("Content-Type"), data)
        elif part.name in TEXT_FIELDS:
            fields[part.name] = (await _read_part(part, MAX_FIELD_BYTES)).decode("utf-8", "replace")
        else:
            await _read_part(part, MAX_AUDIO_BYTES)  # unknown fields are read and ignored


def render(text, response_format, language):
    if response_format == "text":
        return web.Response(text=text + "\n", content_type="text/plain")
    if response_format == "verbose_json":
        return web.json_response({"task": "transcribe", "language": language or "english",
                                  "duration": 1.0, "text": text,
                                  "segments": [{"id": 0, "start": 0.0, "end": 1.0, "text": text}]})
    if response_format == "srt":
        return web.Response(text=f"1\n00:00:00,000 --> 00:00:01,000\n{text}\n\n",
                            content_type="text/plain")
    if response_format == "vtt":
        return web.Response(text=f"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n{text}\n\n",
                            content_type="text/plain")
    return web.json_response({"text": text})


async def transcribe(double, request):
    profile = request.match_info.get("profile")
    key_ok = double.key_ok(request)
    entry = double.record(request, profile, b"", key_ok)
    entry.update(body={}, audio=None, script=None)
    if key_ok is False:
        return error(401, "Invalid API key", code="invalid_api_key")
    try:
        fields, audio = await read_form(request)
    except TooLarge:
        return error(413, f"Maximum content size limit ({MAX_AUDIO_BYTES}) exceeded.",
                     param="file", code="file_too_large")
    except ValueError:
        return error(400, "Expected a multipart/form-data body.", code="invalid_request")
    entry["body"] = fields
    if audio is not None:
        filename, content_type, data = audio
        entry["audio"] = {"filename": filename, "content_type": content_type, "size": len(data),
                          "sha256": hashlib.sha256(data).hexdigest()}
    if audio is None:
        return error(400, "Missing required parameter: 'file'.", param="file",
                     code="missing_required_parameter")
    if not fields.get("model"):
        return error(400, "Missing required parameter: 'model'.", param="model",
                     code="missing_required_parameter")
    response_format = fields.get("response_format") or "json"
    if response_format not in RESPONSE_FORMATS:
        return error(400, f"Invalid value for 'response_format': must be one of "
                          f"{', '.join(RESPONSE_FORMATS)}.", param="response_format",
                     code="invalid_value")
    # Only its model's scripts: a global or profile script (with a count) is meant for
    # the turn that follows the transcription and must not be used up by it.
    script = double.scripts.take_for_model(fields["model"])
    entry["script"] = script
    if script["hang"]:
        await asyncio.Event().wait()  # until the client goes away (aiohttp cancels us)
    if script["status"] != 200:
        return scripts.error_answer(script)
    text = script["transcript"]
    if text is None:
        text = f"transcript of {len(audio[2])} bytes"
    entry["transcript"] = text
    return render(text, response_format, fields.get("language"))
