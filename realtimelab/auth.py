"""Credentials: a redacting `Secret`, keys from the environment, and ephemeral tokens.

Why a wrapper type: an API key that is a plain `str` ends up in reprs, log lines, notebook
outputs and tracebacks. `Secret` prints as `Secret('…abcd')` (at most the last 4 characters)
and must be unwrapped explicitly with `.reveal()` at the one place that puts it on the wire.

Ephemeral tokens let a browser or a less-trusted process open a realtime session without the
real key. Each provider mints its own kind (OpenAI `ek_…` client secrets, Gemini
`auth_tokens/…`) in its folder's `auth.py`; `mint_token(provider, api_key, ...)` reaches any of
them through the provider registry. The minting helpers use only the standard library
(`urllib` in a worker thread, `post_json` below), so no HTTP dependency is added, and work
against the emulator, which serves the same endpoints. Which environment variables hold a key
is also the provider's to say (`ProviderSpec.env_keys`).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from realtimelab.errors import RealtimeLabError
from realtimelab.events import Provider
from realtimelab.providers.registry import get

__all__ = [
    "AuthError",
    "EphemeralToken",
    "Secret",
    "api_key_from_env",
    "http_base",
    "mint_token",
    "post_json",
]

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
    """The provider's key from the environment, or None: the first of its
    `ProviderSpec.env_keys` that is set (e.g. `GEMINI_API_KEY`, then `GOOGLE_API_KEY`).
    An unknown provider raises `UnknownProviderError` (a ValueError)."""
    env = os.environ if env is None else env
    for name in get(provider).env_keys:
        if env.get(name, "").strip():
            return Secret(env[name])
    return None


class AuthError(RealtimeLabError, RuntimeError):
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


def http_base(base_url: str) -> str:
    """Accept ws(s):// (an emulator URL) or http(s)://, with or without a trailing /v1."""
    url = base_url.rstrip("/")
    for ws, http in (("wss://", "https://"), ("ws://", "http://")):
        if url.startswith(ws):
            url = http + url[len(ws) :]
    for suffix in ("/v1", "/v1beta", "/v1alpha"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url


def post_json(
    url: str, body: Mapping[str, Any], headers: Mapping[str, str], secret: Secret, timeout: float
) -> dict[str, Any]:
    """POST `body` as JSON and return the JSON object answered; `AuthError` otherwise, with
    `secret` scrubbed from every message (an error body can echo the request)."""
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


async def mint_token(provider: Provider, api_key: str | Secret, **options: Any) -> EphemeralToken:
    """A short-lived token for `provider`, minted with `api_key` by the provider's own helper
    (`ProviderSpec.mint_token`); `options` are that helper's keyword arguments (`base_url`,
    expiry, locked-in session settings: see `realtimelab/providers/<name>/auth.py`)."""
    spec = get(provider)
    if spec.mint_token is None:
        raise AuthError(f"{spec.title} has no ephemeral tokens")
    return await spec.mint_token(api_key, **options)
