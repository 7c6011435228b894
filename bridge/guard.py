"""What a browser may ask of the API: cross-site requests and DNS rebinding are refused.

With no token (the loopback default) the API's only defence against a web page the editor
happens to visit is the browser's own rules, so the API holds the browser to them:

- ``Host`` must name this server: an IP literal, ``localhost``, the bound ``api.host`` or a
  name in ``api.hosts``. A DNS-rebinding page reaches the loopback address under its own
  domain name, which is not on that list (an IP literal can never be rebound).
- A request that changes state (anything but ``GET``/``HEAD``/``OPTIONS``) must be one no
  page can send without the browser asking first: a JSON body, an ``Authorization`` header or
  the ``X-Postbay`` header. ``text/plain`` and form posts, which any page may send blind, are
  refused.
- An ``Origin`` other than the server's own and those in ``api.origins`` is refused; a
  preflight (``OPTIONS``) is answered for those origins only, with the methods and headers
  the API takes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

from postbay.config import ApiConfig

__all__ = ["CLIENT_HEADER", "Refusal", "RequestGuard"]

#: The header postbay's own clients send on every request that changes state.
CLIENT_HEADER = "X-Postbay"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_ALLOWED_HEADERS = f"Authorization, Content-Type, Last-Event-ID, {CLIENT_HEADER}"


class Refusal(Exception):
    """A request the guard will not pass on; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 403):
        super().__init__(message)
        self.status = status


def _host_name(host: str) -> str:
    """``Host`` without its port, lower case; IPv6 literals keep no brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class RequestGuard:
    """The checks above for one API configuration."""

    def __init__(self, api: ApiConfig):
        self.names = {"localhost", api.host.lower(), *(h.lower() for h in api.hosts)}
        self.origins = {o.rstrip("/").lower() for o in api.origins}

    def check_host(self, host: str | None) -> None:
        name = _host_name(host or "")
        if not name:
            raise Refusal("the request has no Host header", 400)
        if not (_is_ip(name) or name in self.names):
            raise Refusal(f"Host {name!r} is not a name of this server; add it to [api] hosts if it is "
                          "(a web page reaching postbay through DNS rebinding arrives like this)", 421)

    def foreign_origin(self, origin: str | None, host: str) -> bool:
        """Whether ``origin`` (None: not sent) is neither this server nor an allowed origin."""
        if origin is None:
            return False
        origin = origin.rstrip("/").lower()
        if origin in self.origins:
            return False
        parts = urlsplit(origin)
        return parts.scheme not in ("http", "https") or parts.netloc != host.strip().lower()

    def allowed_cross_origin(self, origin: str | None) -> bool:
        """Whether ``origin`` is one of the configured foreign origins (gets CORS headers)."""
        return origin is not None and origin.rstrip("/").lower() in self.origins

    def check_source(self, headers: Mapping[str, str]) -> None:
        """Raise :class:`Refusal` for a request under a foreign ``Host`` or from a foreign ``Origin``.

        ``headers`` are the request's, looked up by lower-case name."""
        host = headers.get("host", "")
        self.check_host(host)
        if self.foreign_origin(headers.get("origin"), host):
            raise Refusal(f"requests from {headers['origin']} are not allowed; add the origin to [api] origins "
                          "if it is a tool of yours")

    def check_intent(self, method: str, headers: Mapping[str, str]) -> None:
        """Raise :class:`Refusal` for a state change any page could have sent blind."""
        if method.upper() in _SAFE_METHODS:
            return
        media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type == "application/json" or "authorization" in headers or CLIENT_HEADER.lower() in headers:
            return
        raise Refusal(f"a {method} must send JSON, an Authorization header or {CLIENT_HEADER}: 1 "
                      "(a web page can send other bodies to any server without asking)")

    def preflight_headers(self, origin: str) -> dict[str, str]:
        """The answer to an allowed origin's ``OPTIONS`` preflight."""
        return {**self.cors_headers(origin), "Access-Control-Allow-Methods": "GET, POST",
                "Access-Control-Allow-Headers": _ALLOWED_HEADERS, "Access-Control-Max-Age": "600"}

    def cors_headers(self, origin: str) -> dict[str, str]:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
