"""Gemini credentials: where the key comes from, and ephemeral `auth_tokens/…`.

A browser or a less-trusted process should not hold the real API key. Gemini mints
`auth_tokens/…` tokens (`POST /v1alpha/auth_tokens`) limited in uses and time, optionally with
a `setup` locked in; the codec sends one as `Authorization: Token …` to the constrained
endpoint. The key itself is read from `GEMINI_API_KEY`, then `GOOGLE_API_KEY` (the order
google-genai uses). The emulator serves the same endpoint.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any

from realtimelab.auth import AuthError, EphemeralToken, Secret, SecretHeaders, http_base, post_json

__all__ = ["DEFAULT_API_URL", "ENV_KEYS", "mint_token"]

#: Environment variables holding a Gemini API key, in the order they are tried.
ENV_KEYS: tuple[str, ...] = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
DEFAULT_API_URL = "https://generativelanguage.googleapis.com"


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat()


async def mint_token(
    api_key: str | Secret,
    *,
    base_url: str = DEFAULT_API_URL,
    uses: int = 1,
    expire_s: float = 30 * 60,
    new_session_expire_s: float = 60,
    constraints: Mapping[str, Any] | None = None,
    timeout: float = 30.0,
    now: dt.datetime | None = None,
) -> EphemeralToken:
    """Mint a Gemini `auth_tokens/…` token (`POST /v1alpha/auth_tokens`).

    `uses` is how many sessions it may open (0 = unlimited; resumption does not count);
    `new_session_expire_s` how long new sessions may start; `expire_s` how long messages are
    accepted. `constraints` is a `setup`-shaped dict (`{"model": "models/…", …}`) locked into
    the token.
    """
    if uses < 0:
        raise ValueError(f"uses must be >= 0 (0 = unlimited), got {uses}")
    key = Secret(api_key)
    del api_key  # only the Secret stays in this frame's locals (tracebacks can show them)
    start = now or dt.datetime.now(dt.UTC)
    expire = start + dt.timedelta(seconds=expire_s)
    body: dict[str, Any] = {
        "uses": uses,
        "expireTime": _iso(expire),
        "newSessionExpireTime": _iso(start + dt.timedelta(seconds=new_session_expire_s)),
    }
    if constraints:
        body["bidiGenerateContentSetup"] = dict(constraints)
    url = f"{http_base(base_url)}/v1alpha/auth_tokens"
    headers = SecretHeaders({"x-goog-api-key": key.reveal()})
    payload = await asyncio.to_thread(post_json, url, body, headers, key, timeout)
    name = payload.get("name")
    if not isinstance(name, str) or not name.startswith("auth_tokens/"):
        raise AuthError(f"POST {url}: no `auth_tokens/…` name in the response")
    return EphemeralToken(provider="gemini", value=Secret(name), expires_at=expire.timestamp())
