"""Redaction: what an error message or a log line may say about a URI or a credential.

A tracking URI such as `postgresql://ml:pw@db/mlflow` or `https://user:token@mlflow.example` carries its password;
it must never reach metadata, tags, logs, the lake or a terminal. `redact()` strips `user:password@` from every
URI in a text and replaces the values of the known secret environment variables."""

from __future__ import annotations

import os
import re

# user:password@ (or a bare token@) between a scheme and a host; the scheme and the host stay readable.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/@\s]+)@")
# Environment variables whose value is a credential, or a URI that may carry one.
SECRET_ENV_VARS = (
    "MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME",
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "DAGSTER_PG_PASSWORD", "VISION_MLFLOW_PASSWORD",
)
MASK = "***"


def redact_uri(uri: str) -> str:
    """The URI without its credentials: `scheme://***@host/...`."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", uri)


def _secret_values(environ) -> list[str]:
    values = []
    for name in SECRET_ENV_VARS:
        value = environ.get(name, "")
        if not value:
            continue
        match = _USERINFO.search(value)
        if match:  # a URI: its password (and whole userinfo) is the secret, not the rest of it
            userinfo = match["userinfo"]
            values += [userinfo, *([userinfo.split(":", 1)[1]] if ":" in userinfo else [])]
        elif "://" not in value and len(value) >= 4:
            values.append(value)
    return sorted({v for v in values if len(v) >= 3}, key=len, reverse=True)


def redact(text: object, environ=None) -> str:
    """`text` with URI credentials and known secret values masked."""
    out = redact_uri(str(text))
    for value in _secret_values(os.environ if environ is None else environ):
        out = out.replace(value, MASK)
    return out
