"""Matrix error responses: `{errcode, error}` bodies with the status the spec gives."""


class MatrixError(Exception):
    """Raised by a handler; the server turns it into the JSON error response."""

    def __init__(self, status, errcode, error, headers=None, **extra):
        super().__init__(f"{errcode}: {error}")
        self.status = status
        self.errcode = errcode
        self.error = error
        self.headers = headers or {}
        self.extra = extra

    def body(self):
        # A user-interactive-auth challenge (errcode None) is just flows/params/session.
        head = {"errcode": self.errcode, "error": self.error} if self.errcode else {}
        return {**head, **self.extra}


def forbidden(msg):
    return MatrixError(403, "M_FORBIDDEN", msg)


def not_found(msg):
    return MatrixError(404, "M_NOT_FOUND", msg)


def bad_json(msg):
    return MatrixError(400, "M_BAD_JSON", msg)


def invalid_param(msg):
    return MatrixError(400, "M_INVALID_PARAM", msg)


def missing_param(msg):
    return MatrixError(400, "M_MISSING_PARAM", msg)


def unknown_token(msg="Unknown access token"):
    # soft_logout false: the token is gone for good, the client must log in again.
    return MatrixError(401, "M_UNKNOWN_TOKEN", msg, soft_logout=False)


def limit_exceeded(retry_after_ms):
    # Clients read either the body field or the header; real servers send both.
    seconds = max(1, -(-int(retry_after_ms) // 1000))
    return MatrixError(429, "M_LIMIT_EXCEEDED", "Too many requests",
                       headers={"Retry-After": str(seconds)},
                       retry_after_ms=int(retry_after_ms))
