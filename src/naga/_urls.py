"""URLs that naga writes or prints: credentials never leave the process.

A URL naga records (a git remote in run.lock, an MLflow tracking URI in ``.naga/mlflow.json``,
an error message) keeps only its scheme, host, port and path. The user name, password and
token, the query string (``?private_token=...``) and the fragment are dropped.

Bottom layer: imports nothing from naga.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from typing import overload

__all__ = ["basic_auth_header", "redact", "strip_credentials", "url_credentials"]

# ``C:\x`` or ``C:/x``: a Windows path, not the scp-like ``host:path`` (git reads it so too).
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


@overload
def strip_credentials(url: str) -> str: ...
@overload
def strip_credentials(url: None) -> None: ...
def strip_credentials(url: str | None) -> str | None:
    """``url`` with only its scheme, host, port and path: no user, password, query or fragment.

    ``scheme://authority/path``: the user information ends at the last ``@`` of the authority
    (which ends at the first ``/``, ``?`` or ``#``), so a password holding ``@`` or ``:`` is
    dropped whole. A port that is not a number is dropped too. A scp-like git remote
    (``user@host:path``, no ``://``) keeps ``host:path``: as git does, its host ends at the
    first ``:``. A local path, or any string that is neither, is returned unchanged.

    Args:
        url: A URL, a scp-like git remote, a local path, or None.

    Returns:
        The URL without credentials; None for None.

    Example:
        >>> strip_credentials("https://user:p@ss:tok@host:8443/r.git?private_token=x#top")
        'https://host:8443/r.git'
        >>> strip_credentials("git@github.com:org/r.git")
        'github.com:org/r.git'
    """
    if not url:
        return url
    scheme, sep, rest = url.partition("://")
    if sep and _is_scheme(scheme):
        end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
        host = _host_port(rest[:end].rpartition("@")[2])
        path = re.split(r"[?#]", rest[end:], maxsplit=1)[0]
        return f"{scheme}://{host}{path}"
    head, colon, path = url.partition(":")
    if colon and "/" not in head and "\\" not in head and not _DRIVE.match(url):
        # scp-like ``[user@]host:path`` (git: a ``:`` before any ``/``); ``file:x`` stays.
        return f"{head.rpartition('@')[2]}:{path}"
    return url


def url_credentials(url: str | None) -> tuple[str, str] | None:
    """The ``(user, password)`` a ``scheme://user:password@host`` URL carries, percent-decoded.

    This is what MLflow's HTTP client (``requests``) sends as basic auth for such a tracking
    URI, in preference to ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``. None when
    the URL has no password (a bare ``user@`` sends no credentials).

    Example:
        >>> url_credentials("http://me:s%40cret@127.0.0.1:5000")
        ('me', 's@cret')
    """
    if not url or "://" not in url:
        return None
    authority = re.split(r"[/?#]", url.partition("://")[2], maxsplit=1)[0]
    userinfo, at, _ = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return None
    user, _, password = userinfo.partition(":")
    return urllib.parse.unquote(user), urllib.parse.unquote(password)


def basic_auth_header(user: str, password: str) -> str:
    """The ``Authorization`` header value for HTTP basic auth, as ``requests`` builds it."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def redact(text: str, url: str | None) -> str:
    """``text`` (an error message, a printed line) with ``url``'s credentials taken out.

    Each spelling of ``url``'s user information (as written, and percent-decoded) is removed
    where it precedes a host, and its password is replaced by ``***`` wherever else it appears.

    Example:
        >>> redact("GET http://me:pw@h:5000/health failed", "http://me:pw@h:5000")
        'GET http://h:5000/health failed'
    """
    if not url or "://" not in url:
        return text
    authority = re.split(r"[/?#]", url.partition("://")[2], maxsplit=1)[0]
    userinfo, at, _ = authority.rpartition("@")
    if not at:
        return text
    decoded = urllib.parse.unquote(userinfo)
    for spelling in {userinfo, decoded}:
        text = text.replace(spelling + "@", "")
    credentials = url_credentials(url)
    secrets = {userinfo.partition(":")[2], credentials[1] if credentials else ""}
    for secret in sorted(secrets - {""}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _is_scheme(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*", text))


def _host_port(hostport: str) -> str:
    """``host[:port]`` with a port kept only when it is a number; ``[v6]`` hosts kept whole."""
    if hostport.startswith("["):
        host, bracket, port = hostport.partition("]")
        host += bracket
        port = port[1:] if port.startswith(":") else ""
    else:
        host, _, port = hostport.partition(":")
    return f"{host}:{port}" if port.isdigit() else host
