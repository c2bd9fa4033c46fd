"""A small Python twin of agent/sse_parser + agent/chat_stream, for the double's tests:
the same WHATWG event-stream rules and the same item rendering as
tests/unit/agent/render.hpp (except that malformed items carry no description), so a stream the double sends can be checked against what
the C++ decoder is tested to expect."""

import json


def sse_records(data: bytes):
    """(kind, type, data) records: ("event", type, data) or ("comment", None, text)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines, line, i = [], bytearray(), 0
    while i < len(data):
        c = data[i:i + 1]
        if c in (b"\r", b"\n"):
            lines.append(bytes(line))
            line = bytearray()
            if c == b"\r" and data[i + 1:i + 2] == b"\n":
                i += 1
        else:
            line += c
        i += 1
    records, etype, buf = [], b"", None
    for ln in lines:  # an unterminated last line is dropped, as the standard says
        if not ln:
            if buf is not None:
                records.append(("event", (etype or b"message").decode("utf-8", "replace"),
                                b"\n".join(buf)))
            etype, buf = b"", None
        elif ln.startswith(b":"):
            text = ln[1:]
            records.append(("comment", None, text[1:] if text.startswith(b" ") else text))
        else:
            name, _, value = ln.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if name == b"event":
                etype = value
            elif name == b"data":
                buf = (buf or []) + [value]
    return records


def _finish(chunk, reason):
    s = "finish " + (reason if reason in ("stop", "length", "error") else f"other({reason})")
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        s += " usage=%d/%d/%d" % tuple(int(usage.get(k, 0)) for k in
                                      ("prompt_tokens", "completion_tokens", "total_tokens"))
    err = chunk.get("error")
    if isinstance(err, str):
        s += f" error=[{err}]"
    elif isinstance(err, dict):
        s += f" error=[{err.get('message') or 'unspecified error'}]"
    h = chunk.get("hermes")
    if isinstance(h, dict):
        s += " hermes=" + "".join(flag if h.get(key) is True else "-" for key, flag in
                                  (("completed", "C"), ("partial", "P"), ("failed", "F")))
        e, code = h.get("error") or "", h.get("error_code") or ""
        if e or code:
            s += f"[{e}|{code}]"
    return s


def items(data: bytes):
    """The stream as rendered items (text, tool, keepalive, finish, done, malformed)."""
    out = []
    for kind, etype, payload in sse_records(data):
        if kind == "comment":
            out.append("keepalive")
            continue
        if etype == "hermes.tool.progress":
            try:
                p = json.loads(payload)
                assert isinstance(p, dict)
            except (ValueError, AssertionError):
                out.append("malformed")
                continue
            out.append("tool %s %s [%s] %s" % (p.get("tool") or p.get("name") or "",
                                               p.get("emoji", ""), p.get("label", ""),
                                               p.get("status", ""))
                       + (f" #{p['toolCallId']}" if p.get("toolCallId") else ""))
            continue
        if etype != "message":
            continue
        if payload.strip(b" \t") == b"[DONE]":
            out.append("done")
            continue
        try:
            chunk = json.loads(payload.decode("utf-8"))
            choices = chunk["choices"]
            choice = choices[0] if choices else None
        except (ValueError, KeyError, TypeError, IndexError):
            out.append("malformed")
            continue
        if not isinstance(choice, dict):
            out.append("malformed")
            continue
        content = (choice.get("delta") or {}).get("content")
        if content:
            out.append(f"text [{content}]")
        if choice.get("finish_reason") is not None:
            out.append(_finish(chunk, choice["finish_reason"]))
    return out
