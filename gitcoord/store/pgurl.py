"""PostgreSQL store URLs: which settings name one, and how to show one without its
password. Standard library only: the hook's fast path and every error message use it
without loading psycopg.

A URL is handed to libpq as it is (so ``PG*`` variables, service files and ``.pgpass``
keep working); only what gitcoord *shows* is redacted: the password in the user info
(``postgresql://user:secret@host/db``) and any ``password=`` parameter are dropped.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

SCHEMES = ("postgresql://", "postgres://")

# scheme://[userinfo@]rest: the userinfo ends at the last '@' before the path
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#]*)@(?P<rest>.*)$", re.S)
_PASSWORD_PARAM = re.compile(r"(?i)([?&])password=([^&#]*)&?")


def is_postgres(url: str | None) -> bool:
    return bool(url) and str(url).startswith(SCHEMES)


def passwords(url: str) -> list[str]:
    """The password(s) a URL spells out, raw and percent-decoded (longest first)."""
    found: list[str] = []
    m = _USERINFO.match(url)
    if m and ":" in m.group("userinfo"):
        found.append(m.group("userinfo").split(":", 1)[1])
    found += [v for _, v in _PASSWORD_PARAM.findall(url)]
    out = {p for raw in found if raw for p in (raw, unquote(raw))}
    return sorted(out, key=len, reverse=True)


def redact(url: str) -> str:
    """``url`` without any password: what messages, ``store info`` and logs show."""
    m = _USERINFO.match(url)
    if m:
        user = m.group("userinfo").split(":", 1)[0]
        url = m.group("scheme") + (user + "@" if user else "") + m.group("rest")
    url = _PASSWORD_PARAM.sub(lambda p: p.group(1), url)
    return url.rstrip("?&")


def scrub(text: str, url: str) -> str:
    """``text`` (say, a driver's error message) with the URL and any password in it
    replaced by the redacted URL / ``***``."""
    text = text.replace(url, redact(url))
    for secret in passwords(url):
        text = text.replace(secret, "***")
    return text
