"""Credentials never leak (reprs, errors, taps) and ephemeral tokens work end to end (emulator)."""

from __future__ import annotations

import asyncio
import json
import pickle
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from realtimelab import events as ev
from realtimelab.auth import AuthError, EphemeralToken, Secret, api_key_from_env, mint_token
from realtimelab.config import SessionConfig
from realtimelab.emulator.server import Emulator
from realtimelab.errors import RealtimeLabError
from realtimelab.providers import get, make_codec
from realtimelab.providers.gemini.auth import mint_token as mint_gemini_token
from realtimelab.providers.openai.auth import mint_client_secret as mint_openai_client_secret
from realtimelab.session import connect

OPENAI_KEY = "sk-proj-SECRETSECRETSECRET0000wxyz"
GEMINI_KEY = "AIzaSyD-SECRETSECRETSECRET000wxyz"
MakeEmulator = Callable[..., Awaitable[Emulator]]


def test_secret_redacts_everywhere_but_reveal() -> None:
    s = Secret(OPENAI_KEY)
    assert repr(s) == "Secret('sk-proj-…wxyz')" and str(s) == repr(s)
    assert f"{s}" == repr(s) and "SECRET" not in f"{[s]}"
    assert s.reveal() == OPENAI_KEY
    assert repr(Secret("short")) == "Secret('…')"  # too short to show any of it
    assert s.scrub(f"bad key {OPENAI_KEY}!") == "bad key Secret('sk-proj-…wxyz')!"
    with pytest.raises(TypeError):
        pickle.dumps(s)
    with pytest.raises(ValueError):
        Secret("  ")


def test_api_key_from_env_order() -> None:
    assert api_key_from_env("openai", {}) is None
    key = api_key_from_env("gemini", {"GOOGLE_API_KEY": "g2", "GEMINI_API_KEY": "g1"})
    assert key is not None and key.reveal() == "g1"
    key = api_key_from_env("gemini", {"GOOGLE_API_KEY": "g2", "GEMINI_API_KEY": " "})
    assert key is not None and key.reveal() == "g2"
    with pytest.raises(ValueError, match="unknown provider"):
        api_key_from_env("claude", {})
    assert get("gemini").env_keys == ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    assert get("openai").env_keys == ("OPENAI_API_KEY",)


@pytest.mark.parametrize(("provider", "key"), [("openai", OPENAI_KEY), ("gemini", GEMINI_KEY)])
def test_connect_request_repr_hides_the_key(provider: str, key: str) -> None:
    req = make_codec(provider).connect_request(api_key=key)
    assert key in json.dumps(dict(req.headers))  # it is there, for the socket...
    assert "SECRET" not in repr(req) and "SECRET" not in str(req)  # ...but never printed


@pytest.mark.parametrize(("provider", "key"), [("openai", OPENAI_KEY), ("gemini", GEMINI_KEY)])
async def test_key_not_in_session_repr_tap_or_frames(
    provider: str, key: str, make_emulator: MakeEmulator
) -> None:
    emu = await make_emulator()
    tapped: list[str] = []
    async with connect(
        provider, url=emu.url, api_key=key, frame_tap=lambda d, f, t: tapped.append(json.dumps(f))
    ) as session:
        await session.send_text("Hello!")
        async with asyncio.timeout(20):
            async for event in session:
                tapped.append(repr(event))
                if isinstance(event, ev.TurnComplete):
                    break
        assert "SECRET" not in repr(session)
    assert tapped and not any("SECRET" in t for t in tapped)
    assert not any("SECRET" in json.dumps(f) for _, f, _ in session.frames)


async def test_refused_key_error_and_traceback_do_not_contain_it(
    make_emulator: MakeEmulator,
) -> None:
    emu = await make_emulator(api_keys=frozenset({"sk-the-only-good-key-000000"}))
    with pytest.raises(ConnectionError) as info:
        async with connect("openai", url=emu.url, api_key=OPENAI_KEY):
            pass
    text = "".join(traceback.format_exception(info.value))
    assert "SECRET" not in text
    assert "401" in str(info.value) or "403" in str(info.value)


async def test_mint_failures_are_scrubbed(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(api_keys=frozenset({"sk-the-only-good-key-000000"}))
    with pytest.raises(AuthError) as info:
        await mint_openai_client_secret(OPENAI_KEY, base_url=emu.url)
    assert info.value.status in (401, 403)
    assert "SECRET" not in "".join(traceback.format_exception(info.value))
    with pytest.raises(AuthError, match="failed"):
        await mint_gemini_token(GEMINI_KEY, base_url="http://127.0.0.1:9")  # nothing listens
    with pytest.raises(ValueError, match="expires_s"):
        await mint_openai_client_secret(OPENAI_KEY, expires_s=5)
    with pytest.raises(ValueError, match="expires_s"):  # the neutral entry point, same helper
        await mint_token("openai", OPENAI_KEY, expires_s=5)
    assert issubclass(AuthError, RealtimeLabError) and issubclass(AuthError, RuntimeError)


async def test_openai_client_secret_opens_a_session(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator()
    token = await mint_openai_client_secret(
        OPENAI_KEY, base_url=emu.url, session={"type": "realtime", "instructions": "Be brief."}
    )
    assert isinstance(token, EphemeralToken) and token.provider == "openai"
    assert token.value.reveal().startswith("ek_") and "ek_" in repr(token)
    assert token.expires_at is not None
    async with connect("openai", url=emu.url, token=token) as session:
        assert session.provider == "openai"
    with pytest.raises(ValueError, match="openai token cannot open a gemini session"):
        async with connect("gemini", url=emu.url, token=token):
            pass


async def test_gemini_token_opens_a_constrained_session(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator()
    tapped: list[dict[str, Any]] = []
    token = await mint_gemini_token(GEMINI_KEY, base_url=emu.http_url, uses=1)
    assert token.value.reveal().startswith("auth_tokens/") and token.provider == "gemini"
    async with connect(
        "gemini",
        SessionConfig(),
        url=emu.url,
        token=token,
        frame_tap=lambda d, f, t: tapped.append(f),
    ) as session:
        assert "BidiGenerateContentConstrained" in session.url and "v1alpha" in session.url
    assert token.value.reveal() not in json.dumps(tapped)
    with pytest.raises(ConnectionError):  # uses=1: the second session is refused
        async with connect("gemini", url=emu.url, token=token):
            pass


async def test_environment_keys_are_not_sent_to_loopback(
    make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from realtimelab.session import EMULATOR_KEY

    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    emu = await make_emulator(api_keys=frozenset({EMULATOR_KEY}))  # refuses any other key
    async with connect("openai", url=emu.url) as session:
        assert session.provider == "openai"
