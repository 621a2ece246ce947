"""OpenAI credentials: where the key comes from, and ephemeral client secrets.

A browser or a less-trusted process should not hold the real API key. OpenAI mints `ek_…`
client secrets (GA `POST /v1/realtime/client_secrets`) that open sessions for a limited time,
optionally with a session configuration locked in. The codec sends either kind as
`Authorization: Bearer …`. The emulator serves the same endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from realtimelab.auth import AuthError, EphemeralToken, Secret, SecretHeaders, http_base, post_json

__all__ = ["DEFAULT_API_URL", "ENV_KEYS", "mint_client_secret"]

#: Environment variables holding an OpenAI API key.
ENV_KEYS: tuple[str, ...] = ("OPENAI_API_KEY",)
DEFAULT_API_URL = "https://api.openai.com"


async def mint_client_secret(
    api_key: str | Secret,
    *,
    base_url: str = DEFAULT_API_URL,
    session: Mapping[str, Any] | None = None,
    expires_s: int = 600,
    timeout: float = 30.0,
) -> EphemeralToken:
    """Mint an OpenAI `ek_…` client secret (GA `POST /v1/realtime/client_secrets`).

    `session` is a GA session object (`{"type": "realtime", …}`) locked into the secret;
    `expires_s` (10–7200) limits only when new sessions may start.
    """
    if not 10 <= expires_s <= 7200:
        raise ValueError(f"expires_s must be within 10..7200 seconds, got {expires_s}")
    key = Secret(api_key)
    del api_key  # only the Secret stays in this frame's locals (tracebacks can show them)
    body = {
        "expires_after": {"anchor": "created_at", "seconds": expires_s},
        "session": dict(session or {"type": "realtime"}),
    }
    url = f"{http_base(base_url)}/v1/realtime/client_secrets"
    headers = SecretHeaders({"Authorization": f"Bearer {key.reveal()}"})
    payload = await asyncio.to_thread(post_json, url, body, headers, key, timeout)
    value = payload.get("value") or (payload.get("client_secret") or {}).get("value")
    if not isinstance(value, str) or not value:
        raise AuthError(f"POST {url}: no `value` in the response (keys: {sorted(payload)})")
    expires = payload.get("expires_at")
    return EphemeralToken(
        provider="openai",
        value=Secret(value),
        expires_at=float(expires) if isinstance(expires, int | float) else None,
        session=payload.get("session") or {},
    )
