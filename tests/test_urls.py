"""naga._urls: credentials never leave the process in a URL naga writes or prints."""

from __future__ import annotations

import pytest

from naga._urls import basic_auth_header, redact, strip_credentials, url_credentials

STRIP = [
    # (url, stripped)
    ("https://host/org/r.git", "https://host/org/r.git"),
    ("https://user:token@host/org/r.git", "https://host/org/r.git"),
    ("https://user@host/org/r.git", "https://host/org/r.git"),
    # The user information ends at the last @ of the authority, not the first.
    ("https://user:p@ss:tok@host/r.git", "https://host/r.git"),
    ("https://user:p%40ss@host:8443/r.git", "https://host:8443/r.git"),
    # Query and fragment go: tokens live there too.
    ("https://host/r.git?private_token=abc", "https://host/r.git"),
    ("https://host/r.git#tok", "https://host/r.git"),
    ("https://user:pw@host?private_token=abc#x", "https://host"),
    ("https://host:443?a@b", "https://host:443"),
    ("http://user:secret@127.0.0.1:5000", "http://127.0.0.1:5000"),
    ("http://user:secret@127.0.0.1:5000/prefix/", "http://127.0.0.1:5000/prefix/"),
    ("http://user:secret@[::1]:5000/x", "http://[::1]:5000/x"),
    ("http://[::1]/x", "http://[::1]/x"),
    # A port that is not a number is no port: dropped, whatever it holds.
    ("https://host:notaport/r.git", "https://host/r.git"),
    # ssh URLs and scp-like git remotes: the user goes too.
    ("ssh://user@host:22/r.git", "ssh://host:22/r.git"),
    ("ssh://git@host/r.git", "ssh://host/r.git"),
    ("git+ssh://user:pw@host/r.git", "git+ssh://host/r.git"),
    ("git@github.com:org/r.git", "github.com:org/r.git"),
    ("github.com:org/r.git", "github.com:org/r.git"),
    ("git@host:team@x/r.git", "host:team@x/r.git"),
    ("me@host:~/r.git", "host:~/r.git"),
    # Database and file URIs keep their slashes.
    ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
    ("sqlite:////abs/mlflow.db", "sqlite:////abs/mlflow.db"),
    ("postgresql://user:pw@db.example.com:5432/mlflow", "postgresql://db.example.com:5432/mlflow"),
    ("postgresql://db/mlflow?sslmode=require&password=pw", "postgresql://db/mlflow"),
    ("file:///tmp/repo", "file:///tmp/repo"),
    ("file:./mlruns", "file:./mlruns"),
    # Local paths are unchanged, even with @ or : in them.
    ("/srv/git/r.git", "/srv/git/r.git"),
    ("../r.git", "../r.git"),
    ("./a@b:c/r.git", "./a@b:c/r.git"),
    ("/data/user@host:x", "/data/user@host:x"),
    ("C:\\repos\\r.git", "C:\\repos\\r.git"),
    ("C:/repos/r.git", "C:/repos/r.git"),
    ("", ""),
]


@pytest.mark.parametrize(("url", "stripped"), STRIP)
def test_strip_credentials(url: str, stripped: str) -> None:
    assert strip_credentials(url) == stripped
    assert strip_credentials(stripped) == stripped  # idempotent


def test_strip_credentials_of_none() -> None:
    assert strip_credentials(None) is None


@pytest.mark.parametrize(
    ("url", "credentials"),
    [
        ("http://user:secret@127.0.0.1:5000", ("user", "secret")),
        ("http://us%40er:se%3Acret@host", ("us@er", "se:cret")),
        ("http://user:p@ss@host/x", ("user", "p@ss")),
        ("http://user:@host", ("user", "")),
        ("http://user@host", None),  # no password: requests sends no basic auth
        ("http://host:5000", None),
        ("http://host/a@b", None),
        ("git@host:r.git", None),
        (None, None),
    ],
)
def test_url_credentials(url: str | None, credentials: tuple[str, str] | None) -> None:
    assert url_credentials(url) == credentials


def test_basic_auth_header_is_what_requests_sends() -> None:
    requests = pytest.importorskip("requests")
    request = requests.Request("GET", "http://us%40er:se%3Acret@host/").prepare()
    assert request.headers["Authorization"] == basic_auth_header("us@er", "se:cret")


@pytest.mark.parametrize(
    ("text", "url", "redacted"),
    [
        (
            "GET http://me:pw%2F1@h:5000/health failed",
            "http://me:pw%2F1@h:5000",
            "GET http://h:5000/health failed",
        ),
        (
            "auth me:pw/1 refused; token pw%2F1",
            "http://me:pw%2F1@h",
            "auth me:*** refused; token ***",
        ),
        ("nothing secret", "http://h:5000", "nothing secret"),
        ("nothing secret", None, "nothing secret"),
    ],
)
def test_redact(text: str, url: str | None, redacted: str) -> None:
    assert redact(text, url) == redacted
