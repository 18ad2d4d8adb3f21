"""Credentials never leave the process: locations are recorded and shown without them.

A location may carry credentials - ``s3://KEY:SECRET@bucket/runs`` (pyarrow reads the user
part as the access key and secret), or options such as ``access_key``, ``secret_key``,
``session_token``, ``account_key``, ``sas_token``. :func:`redact_uri` returns the text with
every URI in it stripped of them: a ``user:password@`` part and every credential option are
dropped, everything else is kept character for character (a bare ``user@``, which names an
HDFS user or an Azure container, is not a secret and stays). What remains is still a
working URI where the credentials come from the environment (``AWS_ACCESS_KEY_ID``, ...).

Every place that records a location (``run.json``, ``config.json``, warm-start records) or
shows one (progress output, errors, the HTML report, Ray job metadata) goes through here.
Pure: no I/O.

>>> redact_uri("s3://AKID:SECRET@bucket/runs?region=eu-west-1&secret_key=SECRET")
's3://bucket/runs?region=eu-west-1'
"""

from __future__ import annotations

import re
from typing import Any

#: A URI inside any text: ``scheme://`` up to the next blank or quote.
_URI = re.compile(r"(?<![A-Za-z0-9+.\-])([A-Za-z][A-Za-z0-9+.\-]*://)([^\s\"'<>`]*)")
#: Words that make a query option a credential (matched in its lower-cased name).
_SECRET_WORDS = ("secret", "token", "password", "passwd", "credential", "signature")


def is_credential_option(name: str) -> bool:
    """Whether a URI query option named ``name`` holds a credential (``secret_key``, ...)."""
    low = name.lower()
    return (
        any(word in low for word in _SECRET_WORDS)
        or low.endswith("key")
        or low in ("sig", "sas", "auth")
    )


def _strip(scheme: str, rest: str) -> str:
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    user, at, host = authority.rpartition("@")
    if at and ":" in user:  # user:password@ (a bare user names a container or account: kept)
        authority = host
    path, _, query = tail.partition("?")
    query, hash_mark, fragment = query.partition("#")
    options = [o for o in re.split(r"[&;]", query) if o]
    kept = [o for o in options if not is_credential_option(o.split("=", 1)[0])]
    if len(kept) < len(options):
        tail = path + ("?" + "&".join(kept) if kept else "") + hash_mark + fragment
    return scheme + authority + tail


def redact_uri(text: Any) -> Any:
    """``text`` with every URI in it stripped of credentials; other values unchanged.

    Local paths and URIs without credentials come back exactly as given.
    """
    if not isinstance(text, str) or "://" not in text:
        return text
    return _URI.sub(lambda m: _strip(m.group(1), m.group(2)), text)


def credential_values(text: str) -> list[str]:
    """The secrets the URIs in ``text`` carry (the password and user of ``user:password@``,
    the values of credential options), to blank them out of messages that quote them."""
    found: list[str] = []
    for match in _URI.finditer(text):
        rest = match.group(2)
        cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
        user, at, _ = rest[:cut].rpartition("@")
        if at and ":" in user:
            found += [part for part in user.split(":") if part]
        query = rest[cut:].partition("?")[2].partition("#")[0]
        for option in re.split(r"[&;]", query):
            name, eq, value = option.partition("=")
            if eq and value and is_credential_option(name):
                found.append(value)
    return found


def has_credentials(text: Any) -> bool:
    """Whether ``text`` holds a URI with credentials (which :func:`redact_uri` would drop)."""
    return redact_uri(text) != text


def redact_record(value: Any) -> Any:
    """A copy of plain data (dicts, lists, strings) with every string passed through
    :func:`redact_uri`; for records written to disk or shown."""
    if isinstance(value, dict):
        return {k: redact_record(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_record(v) for v in value]
    return redact_uri(value)


__all__ = [
    "credential_values",
    "has_credentials",
    "is_credential_option",
    "redact_record",
    "redact_uri",
]
