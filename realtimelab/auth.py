"""Credentials: a redacting `Secret`, keys from the environment, and ephemeral tokens.

Why a wrapper type: an API key that is a plain `str` ends up in reprs, log lines, notebook
outputs and tracebacks. `Secret` prints as `Secret('…abcd')` (at most the last 4 characters)
and must be unwrapped explicitly with `.reveal()` at the one place that puts it on the wire.

Ephemeral tokens let a browser or a less-trusted process open a realtime session without the
real key: OpenAI mints `ek_…` client secrets (`POST /v1/realtime/client_secrets`), Gemini mints
`auth_tokens/…` (`POST /v1alpha/auth_tokens`). Both minting helpers use only the standard
library (`urllib` in a worker thread), so no HTTP dependency is added; both work against the
emulator, which serves the same endpoints.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from realtimelab.events import Provider

__all__ = [
    "AuthError",
    "EphemeralToken",
    "Secret",
    "api_key_from_env",
    "mint_gemini_token",
    "mint_openai_client_secret",
]

ENV_KEYS: Mapping[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
}
_PREFIXES = ("sk-proj-", "sk-", "ek_", "auth_tokens/", "AIza")


class Secret:
    """A credential that does not print itself. Compare, hash and pickle are deliberately not
    offered: the only way out is `reveal()`."""

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        raw = value.reveal() if isinstance(value, Secret) else value
        if not isinstance(raw, str) or not raw.strip():
            raise ValueError("a secret must be a non-empty string")
        self._value = raw.strip()

    def reveal(self) -> str:
        """The raw value, for the single place that sends it."""
        return self._value

    def __repr__(self) -> str:
        prefix = next((p for p in _PREFIXES if self._value.startswith(p)), "")
        tail = self._value[-4:] if len(self._value) - len(prefix) >= 16 else ""
        return f"Secret('{prefix}…{tail}')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("Secret values are not picklable")

    def scrub(self, text: str) -> str:
        """`text` with every occurrence of this secret replaced by its redacted form."""
        return text.replace(self._value, repr(self)) if self._value in text else text


def as_secret(value: str | Secret | None) -> Secret | None:
    return None if value is None else Secret(value)


def api_key_from_env(provider: Provider, env: Mapping[str, str] | None = None) -> Secret | None:
    """The provider's key from the environment (`OPENAI_API_KEY`; `GEMINI_API_KEY`, then
    `GOOGLE_API_KEY`, the order google-genai uses), or None."""
    env = os.environ if env is None else env
    try:
        names = ENV_KEYS[provider]
    except KeyError:
        raise ValueError(f"unknown provider {provider!r}; use one of {sorted(ENV_KEYS)}") from None
    for name in names:
        if env.get(name, "").strip():
            return Secret(env[name])
    return None


class AuthError(RuntimeError):
    """Minting a token failed. The message never contains the key."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class EphemeralToken:
    """A short-lived credential for one provider. Pass it as `connect(..., token=tok)`."""

    provider: Provider
    value: Secret
    expires_at: float | None = None
    """Unix seconds after which no *new* session may be opened with it."""
    session: Mapping[str, Any] = field(default_factory=dict, repr=False)
    """OpenAI: the session configuration the server locked into the secret."""


def _http_base(base_url: str) -> str:
    """Accept ws(s):// (an emulator URL) or http(s)://, with or without a trailing /v1."""
    url = base_url.rstrip("/")
    for ws, http in (("wss://", "https://"), ("ws://", "http://")):
        if url.startswith(ws):
            url = http + url[len(ws) :]
    for suffix in ("/v1", "/v1beta", "/v1alpha"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url


def _post_json(
    url: str, body: Mapping[str, Any], headers: Mapping[str, str], secret: Secret, timeout: float
) -> dict[str, Any]:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST")
    req.add_header("Content-Type", "application/json")
    for k, v in headers.items():
        req.add_header(k, v)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        # `from None` everywhere below: the chained exception could carry the request.
        with opener.open(req, timeout=timeout) as resp:
            payload = json.loads(resp.read().decode() or "{}")
    except urllib.error.HTTPError as e:
        detail = secret.scrub(e.read().decode("utf-8", "replace")[:500])
        raise AuthError(f"POST {url} failed: HTTP {e.code}: {detail}", e.code) from None
    except (urllib.error.URLError, OSError) as e:
        raise AuthError(f"POST {url} failed: {secret.scrub(str(e))}") from None
    except json.JSONDecodeError:
        raise AuthError(f"POST {url}: the response was not JSON") from None
    if not isinstance(payload, dict):
        raise AuthError(f"POST {url}: expected a JSON object, got {type(payload).__name__}")
    return payload


async def mint_openai_client_secret(
    api_key: str | Secret,
    *,
    base_url: str = "https://api.openai.com",
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
    body = {
        "expires_after": {"anchor": "created_at", "seconds": expires_s},
        "session": dict(session or {"type": "realtime"}),
    }
    url = f"{_http_base(base_url)}/v1/realtime/client_secrets"
    headers = {"Authorization": f"Bearer {key.reveal()}"}
    payload = await asyncio.to_thread(_post_json, url, body, headers, key, timeout)
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


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat()


async def mint_gemini_token(
    api_key: str | Secret,
    *,
    base_url: str = "https://generativelanguage.googleapis.com",
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
    start = now or dt.datetime.now(dt.UTC)
    expire = start + dt.timedelta(seconds=expire_s)
    body: dict[str, Any] = {
        "uses": uses,
        "expireTime": _iso(expire),
        "newSessionExpireTime": _iso(start + dt.timedelta(seconds=new_session_expire_s)),
    }
    if constraints:
        body["bidiGenerateContentSetup"] = dict(constraints)
    url = f"{_http_base(base_url)}/v1alpha/auth_tokens"
    headers = {"x-goog-api-key": key.reveal()}
    payload = await asyncio.to_thread(_post_json, url, body, headers, key, timeout)
    name = payload.get("name")
    if not isinstance(name, str) or not name.startswith("auth_tokens/"):
        raise AuthError(f"POST {url}: no `auth_tokens/…` name in the response")
    return EphemeralToken(provider="gemini", value=Secret(name), expires_at=expire.timestamp())
