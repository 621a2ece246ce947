"""The provider registry: built-in specs, and a third provider registered at runtime working
everywhere a built-in one does, without touching the package (see `support/toy_provider.py`)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from support.toy_provider import ToyCodec, toy_spec

from realtimelab import lab
from realtimelab.auth import api_key_from_env
from realtimelab.catalogue import default_model
from realtimelab.config import ConfigError, SessionConfig, Vad
from realtimelab.errors import RealtimeLabError, UnsupportedSetting
from realtimelab.observe import EventLog, frame_type, infer_provider
from realtimelab.providers import (
    Codec,
    ProviderAlreadyRegistered,
    ProviderSpec,
    UnknownProviderError,
    get,
    make_codec,
    names,
    register,
    specs,
    unregister,
)
from realtimelab.router import ABSplit
from realtimelab.schema import Tool, wire_tool
from realtimelab.voices import VoiceError, format_voice_table, resolve_voice, voices
from realtimelab.widgets import vad_presets


@pytest.fixture
def toy() -> Iterator[ProviderSpec]:
    spec = register(toy_spec())
    try:
        yield spec
    finally:
        unregister("toy")


# --- the built-in providers ---------------------------------------------------------------------


def test_builtin_specs_point_into_their_folders() -> None:
    assert names()[:2] == ("openai", "gemini")
    for spec in specs()[:2]:
        assert spec.codec.__module__ == f"realtimelab.providers.{spec.name}.codec"
        assert spec.capabilities.provider == spec.name == make_codec(spec.name).provider
        assert spec.default_model == default_model(spec.name).name  # the shared catalogue
        assert spec.env_keys and spec.mint_token is not None


def test_unknown_and_duplicate_names_are_clear_errors() -> None:
    with pytest.raises(UnknownProviderError, match="unknown provider 'claude'; registered") as e:
        get("claude")
    assert "openai, gemini" in str(e.value)
    assert isinstance(e.value, ValueError) and isinstance(e.value, RealtimeLabError)
    with pytest.raises(ValueError, match="unknown provider 'claude'"):
        make_codec("claude")
    with pytest.raises(UnknownProviderError):
        unregister("claude")
    with pytest.raises(ProviderAlreadyRegistered, match="'openai' is already registered"):
        register(get("openai"))
    with pytest.raises(TypeError, match="ProviderSpec"):
        register("openai")  # type: ignore[arg-type]


def test_spec_checks_its_name_and_capabilities() -> None:
    good = toy_spec()
    with pytest.raises(ValueError, match="lowercase"):
        ProviderSpec(**{**good.__dict__, "name": "Toy!"})
    with pytest.raises(ValueError, match=r"capabilities\.provider"):
        ProviderSpec(**{**good.__dict__, "capabilities": get("openai").capabilities})


# --- a provider registered at runtime -----------------------------------------------------------


def test_toy_is_listed_and_makes_codecs(toy: ProviderSpec) -> None:
    assert names()[-1] == "toy" and get("toy") is toy
    codec = make_codec("toy", "toy-2")
    assert isinstance(codec, ToyCodec) and isinstance(codec, Codec) and codec.model == "toy-2"
    with pytest.raises(ProviderAlreadyRegistered, match="Toy Live"):
        register(toy_spec())
    assert names() == lab.PROVIDERS  # notebooks loop over it: the toy is in
    assert api_key_from_env("toy", {"TOY_API_KEY": "t0"}) is not None
    assert "toy" in ABSplit().weights
    assert vad_presets()["Toy defaults"].threshold == 0.4


def test_config_validation_knows_the_toy(toy: ProviderSpec) -> None:
    config = SessionConfig(voice="Bob", extra={"toy": {"greeting": {"lang": "en"}}})
    assert config.extra == {"toy": {"greeting": {"lang": "en"}}}
    (hello,) = make_codec("toy").initial_frames(config.replace(instructions="hi"))
    assert hello == {"toy": "hello", "model": "toy-1", "text": "hi", "greeting": {"lang": "en"}}
    with pytest.warns(UnsupportedSetting, match="Vad.threshold is not supported by Toy"):
        make_codec("toy").initial_frames(SessionConfig(vad=Vad(threshold=0.3)))


def test_config_validation_forgets_the_toy_once_unregistered() -> None:
    register(toy_spec())
    unregister("toy")
    with pytest.raises(ConfigError, match="'toy' is not a registered provider"):
        SessionConfig(extra={"toy": {}})
    with pytest.raises(ConfigError, match="'Bob' is not a voice on any provider"):
        SessionConfig(voice="Bob")


def test_voices_resolve_through_the_toy_voice_set(toy: ProviderSpec) -> None:
    assert voices("toy") == ["Ada", "Bob"]
    assert resolve_voice("deep", "toy") == "Bob" and resolve_voice("warm", "toy") == "Ada"
    assert resolve_voice("Ada", "toy") == "Ada"
    with pytest.raises(VoiceError, match="'Ada' is a toy voice"):
        resolve_voice("Ada", "gemini")
    header, _, *rows = format_voice_table().splitlines()
    assert header.split() == ["neutral", "character", "openai", "gemini", "toy"]
    assert rows[3].split()[-1] == "Bob"  # "deep"


def test_tools_and_the_event_log_read_toy_frames(toy: ProviderSpec) -> None:
    tool = Tool.from_schema("ping", "Ping.")
    assert wire_tool(tool, "toy") == {"toy_tool": "ping", "schema": dict(tool.parameters)}

    audio = base64.b64encode(bytes(640)).decode()  # 20 ms at 16 kHz
    say = {"toy": "say", "text": "hello there"}
    assert infer_provider(say) == "toy" and frame_type(say) == "toy.say"

    log = EventLog(None, clock=lambda: 0.0, start=0.0)  # not told the provider: inferred
    log.frame("send", {"toy": "hello", "model": "toy-1", "text": ""}, 0.0)
    log.frame("send", say, 0.1)
    log.frame("recv", {"toy": "audio", "audio": audio}, 0.2)
    hello, said, heard = log.lines
    assert {line["provider"] for line in log.lines} == {"toy"}
    assert hello["model"] == "toy-1"
    assert said["type"] == "toy.say"
    assert said["summary"] == "toy.say 'hello there'"
    assert heard["frame"]["audio"] == "<audio 640 B>" and heard["audio_ms"] == 20.0


def test_removing_the_toy_leaves_the_builtins_alone() -> None:
    before = names()
    register(toy_spec())
    unregister("toy")
    assert names() == before and "toy" not in lab.PROVIDERS
