"""Keeping secrets out of every log line, error and output.

Two layers: URLs have their password replaced (``postgresql://app:***@db/app``), and any value
registered as a secret (API keys, tokens, DSN passwords) is masked wherever it appears in text.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
_URL_PASSWORD = re.compile(
    # Greedy up to the last "@" of the authority, so a password containing "@" is masked whole.
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^\s/?#]*)@"
)
_KV_PASSWORD = re.compile(
    r"(?i)\b(password|passwd|api[_-]?key|token|secret)\s*=\s*(['\"]?)([^\s&'\"]+)"
)

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever it appears in redacted text from now on."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``; the rest stays readable."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if parts.password is None:
        return redact_text(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:{MASK}@{host}"
    return redact_text(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))


def redact_text(text: str) -> str:
    """Mask URL passwords, ``password=...`` pairs and registered secrets in free text."""
    if not text:
        return text
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _KV_PASSWORD.sub(lambda m: f"{m[1]}={m[2]}{MASK}", text)
    with _lock:
        secrets = list(_secrets)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
