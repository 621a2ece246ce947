"""Parse and validate a Gemini Live `setup` message into a frozen `GeminiSetup`.

Pure functions, no sockets: the dialect feeds the (already camelCased) setup dict and gets either
a `GeminiSetup` or a `SetupRejected(code, reason)` carrying the close the real server would send
(as Google closes, see `wire.py`): 1007 "Request contains an invalid argument." for schema errors,
1008 "models/X is not found …" for unknown models and for models Google no longer serves.

Model facts (which models exist, whether they are still served, whether they may answer in
TEXT, how they run tools, whether they take `contextUpdate`) come from the shared catalogue
(`realtimelab.catalogue`). Everything else here is the emulator's own reading of the wire: the
function-declaration schemas (`schema.py`) and the VAD sensitivities (`VAD_START` / `VAD_END`
below) deliberately do not reuse the client's mappings, so a client mistake is caught.

Validation is deliberately strict about *shape* (unknown keys, wrong types, bad enum values are
1007, as Google's proto3-JSON parser rejects them) and lenient about *values* the emulator
cannot judge (temperature, media resolution…), which are accepted and ignored.

Tools: function declarations and `googleSearch` are what the Live models take (Google's "Tool use
with Live API" page, overview of supported tools: Search and function calling supported; Google
Maps, code execution and URL context not supported). The other built-in tools are refused with
1007 and a reason that names the tool (`UNSUPPORTED_TOOLS`); the wording is the emulator's, the
real service's text for it was not found.

Numbers are read as protobuf's JSON parser reads them: integer fields take a number or a numeric
string within their range (int32 / int64), and never a non-finite value (`1e400` parses as
infinity in Python, but is not a valid int32).

Ephemeral-token constraints are applied here too (`apply_constraints`), before validation, so a
locked field can never be smuggled past it.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from realtimelab import catalogue
from realtimelab.emulator.dialects.gemini import wire
from realtimelab.emulator.dialects.gemini.schema import SchemaRejected, declaration_parameters
from realtimelab.emulator.model import ToolSpec
from realtimelab.vad import VadParams

__all__ = [
    "CONTEXT_WINDOW_TOKENS",
    "UNSUPPORTED_TOOLS",
    "GeminiSetup",
    "SetupRejected",
    "VadSettings",
    "apply_constraints",
    "live_generation",
    "parse_setup",
]

#: The Live session's context window (Firebase AI Logic, "Manage sessions for the Live API":
#: "Session context window is limited to 128k tokens"). `slidingWindow` defaults derive from it.
CONTEXT_WINDOW_TOKENS = 128_000
_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1


class SetupRejected(Exception):
    """The setup cannot start a session; `code`/`reason` are the WebSocket close to send."""

    def __init__(self, code: int, reason: str, detail: str = "") -> None:
        super().__init__(f"{code} {reason}" + (f" ({detail})" if detail else ""))
        self.code = code
        self.reason = reason
        self.detail = detail  # for logs and tests; the wire only carries `reason`


def _invalid(detail: str) -> SetupRejected:
    return SetupRejected(1007, wire.INVALID_ARGUMENT, detail)


#: How the emulator's server hears `startOfSpeechSensitivity`: (energy threshold, speech needed
#: before speech "starts" in ms). Google publishes no numbers; HIGH is the Gemini API default.
VAD_START: Mapping[str, tuple[float, int]] = {"HIGH": (0.3, 40), "LOW": (0.7, 160)}
#: `endOfSpeechSensitivity` → silence that ends a turn (ms). HIGH (the default) ends sooner.
VAD_END: Mapping[str, int] = {"HIGH": 400, "LOW": 1000}


def _sensitivity(value: str | None, prefix: str) -> str:
    """`START_SENSITIVITY_LOW` → `LOW`; unset or `*_UNSPECIFIED` → the default, `HIGH`."""
    key = (value or "").upper().removeprefix(prefix)
    return key if key in ("HIGH", "LOW") else "HIGH"


@dataclass(frozen=True)
class VadSettings:
    """`realtimeInputConfig.automaticActivityDetection`, None meaning "server default"."""

    disabled: bool = False
    start_sensitivity: str | None = None
    end_sensitivity: str | None = None
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None

    def params(self) -> VadParams | None:
        """The engine's VAD settings, or None when the client brackets turns itself.

        `prefixPaddingMs` is read as the API reference words it ("the required duration of
        detected speech before start-of-speech is committed"): speech needed before the turn
        starts. `silenceDurationMs` overrides what the end sensitivity implies.
        """
        if self.disabled:
            return None
        threshold, min_speech = VAD_START[
            _sensitivity(self.start_sensitivity, "START_SENSITIVITY_")
        ]
        silence = VAD_END[_sensitivity(self.end_sensitivity, "END_SENSITIVITY_")]
        if self.prefix_padding_ms is not None:
            min_speech = self.prefix_padding_ms
        if self.silence_duration_ms is not None:
            silence = self.silence_duration_ms
        return VadParams(threshold=threshold, silence_duration_ms=silence, min_speech_ms=min_speech)


@dataclass(frozen=True)
class GeminiSetup:
    """Everything the session needs from `setup`, typed; `raw` keeps the camelCase original."""

    model: str  # bare name, e.g. "gemini-3.8-live"
    api_version: str
    modality: Literal["audio", "text"] = "audio"
    voice: str = wire.DEFAULT_VOICE
    language_code: str | None = None
    instructions: str = ""
    tools: tuple[ToolSpec, ...] = ()
    vad: VadSettings = field(default_factory=VadSettings)
    activity_handling: str = "START_OF_ACTIVITY_INTERRUPTS"
    turn_coverage: str = "TURN_INCLUDES_ONLY_ACTIVITY"  # the 2.5 default; 3.x: see setup
    input_transcription: bool = False
    output_transcription: bool = False
    resumption: bool = False
    resume_handle: str | None = None
    compression: bool = False
    trigger_tokens: int = int(0.8 * CONTEXT_WINDOW_TOKENS)  # sliding window: when to trim
    target_tokens: int = int(0.4 * CONTEXT_WINDOW_TOKENS)  # sliding window: trim down to this
    context_updates: bool = False  # the model accepts `contextUpdate` (catalogue fact)
    initial_history: bool = False  # historyConfig.initialHistoryInClientContent
    google_search: bool = False  # a `googleSearch` tool was declared
    media_resolution: str | None = None  # MEDIA_RESOLUTION_LOW / MEDIUM / HIGH, None = default
    reasoning: bool = False  # the model thinks (catalogue fact)
    thinking_level: str | None = None  # MINIMAL..XHIGH as sent, None = the model's default
    thinking_budget: int | None = None  # tokens; 0 disables thinking, -1 = automatic
    generation: int = 3  # the model family's major version (2 for 2.5, 3 for 3.1 / 3.8)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def model_path(self) -> str:
        return f"models/{self.model}"

    @property
    def bundles(self) -> bool:
        """Whether the model puts several parts in one `serverContent` (3.x models do)."""
        return self.generation >= 3

    @property
    def barge_in(self) -> bool:
        return self.activity_handling != "NO_INTERRUPTION"


# --- the accepted shape -------------------------------------------------------------------

_SETUP_KEYS = frozenset(
    {
        "model",
        "generationConfig",
        "systemInstruction",
        "tools",
        "realtimeInputConfig",
        "sessionResumption",
        "contextWindowCompression",
        "inputAudioTranscription",
        "outputAudioTranscription",
        "proactivity",
        "historyConfig",
        "safetySettings",
        "labels",
        "explicitVadSignal",
        "avatarConfig",
    }
)
_HISTORY_KEYS = frozenset({"initialHistoryInClientContent"})
_COMPRESSION_KEYS = frozenset({"triggerTokens", "slidingWindow"})
_SLIDING_KEYS = frozenset({"targetTokens"})
_THINKING_KEYS = frozenset({"thinkingBudget", "thinkingLevel", "includeThoughts"})
_THINKING_LEVELS = frozenset(
    {"THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH", "XHIGH"}
)
_MEDIA_RESOLUTIONS = frozenset(
    {
        "MEDIA_RESOLUTION_UNSPECIFIED",
        "MEDIA_RESOLUTION_LOW",
        "MEDIA_RESOLUTION_MEDIUM",
        "MEDIA_RESOLUTION_HIGH",
    }
)
_GENERATION_KEYS = frozenset(
    {
        "responseModalities",
        "temperature",
        "topP",
        "topK",
        "maxOutputTokens",
        "seed",
        "candidateCount",
        "presencePenalty",
        "frequencyPenalty",
        "mediaResolution",
        "speechConfig",
        "thinkingConfig",
        "enableAffectiveDialog",
        "translationConfig",
    }
)
#: Listed by the proto as not supported by BidiGenerateContent: rejected with 1007.
_UNSUPPORTED_GENERATION_KEYS = frozenset(
    {
        "responseLogprobs",
        "responseMimeType",
        "logprobs",
        "responseSchema",
        "responseJsonSchema",
        "stopSequences",
        "stopSequence",
        "routingConfig",
        "audioTimestamp",
    }
)
_VAD_KEYS = frozenset(
    {
        "disabled",
        "startOfSpeechSensitivity",
        "endOfSpeechSensitivity",
        "prefixPaddingMs",
        "silenceDurationMs",
    }
)
_REALTIME_INPUT_KEYS = frozenset(
    {
        "automaticActivityDetection",
        "activityHandling",
        "turnCoverage",
        "interimTranscriptTimestampEnabled",
    }
)
_START_SENS = frozenset(
    {"START_SENSITIVITY_UNSPECIFIED", "START_SENSITIVITY_HIGH", "START_SENSITIVITY_LOW"}
)
_END_SENS = frozenset(
    {"END_SENSITIVITY_UNSPECIFIED", "END_SENSITIVITY_HIGH", "END_SENSITIVITY_LOW"}
)
_ACTIVITY_HANDLING = frozenset(
    {"ACTIVITY_HANDLING_UNSPECIFIED", "START_OF_ACTIVITY_INTERRUPTS", "NO_INTERRUPTION"}
)
_TURN_COVERAGE = frozenset(
    {
        "TURN_COVERAGE_UNSPECIFIED",
        "TURN_INCLUDES_ONLY_ACTIVITY",
        "TURN_INCLUDES_ALL_INPUT",
        "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO",
    }
)
_BEHAVIOR = frozenset({"UNSPECIFIED", "BLOCKING", "NON_BLOCKING"})
_DECLARATION_KEYS = frozenset(
    {
        "name",
        "description",
        "parameters",
        "parametersJsonSchema",
        "response",
        "responseJsonSchema",
        "behavior",
    }
)
#: Built-in tools the Live models do not run, with the reason the emulator closes with (1007).
#: Google's Live tools table lists Maps, code execution and URL context as not supported on
#: every Live model; file search, computer use and MCP servers are not offered for Live either;
#: `retrieval` and `enterpriseWebSearch` are Vertex-only (SDK: "not supported in Gemini API");
#: `googleSearchRetrieval` is the Gemini 1.5 tool that `googleSearch` replaced.
UNSUPPORTED_TOOLS: Mapping[str, str] = {
    "codeExecution": "codeExecution is not supported by the Live API; use function calling.",
    "urlContext": "urlContext is not supported by the Live API.",
    "googleMaps": "googleMaps is not supported by the Live API.",
    "fileSearch": "fileSearch is not supported by the Live API.",
    "computerUse": "computerUse is not supported by the Live API.",
    "mcpServers": "mcpServers is not supported by the Live API.",
    "retrieval": "retrieval is not supported in the Gemini API.",
    "enterpriseWebSearch": "enterpriseWebSearch is not supported in the Gemini API.",
    "googleSearchRetrieval": (
        "googleSearchRetrieval is not supported. Please use googleSearch tool instead."
    ),
}
_TOOL_KEYS = frozenset({"functionDeclarations", "googleSearch", *UNSUPPORTED_TOOLS})
#: The 1007 reason for `sessionResumption.transparent`, which google-genai refuses to send to
#: the Gemini Developer API ("only supported in Gemini Enterprise Agent Platform mode").
TRANSPARENT_NOT_SUPPORTED = (
    "sessionResumption.transparent is not supported in the Gemini Developer API."
)


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _invalid(f"{where} must be an object")
    return value


def _only(value: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _invalid(f"unknown field(s) {unknown} in {where}")


def _enum(value: Any, allowed: frozenset[str], where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value.upper() not in allowed:
        raise _invalid(f"{where}: invalid enum value {value!r}")
    return value.upper()


_INTEGER_TEXT = re.compile(r"-?\d{1,20}")


def _integer(value: Any, where: str, *, maximum: int, minimum: int = 0) -> int | None:
    """An integer field in proto3 JSON: a number or a numeric string, within its range.

    A float must be integral and finite (`1e400` reads as infinity: refused, not an overflow).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise _invalid(f"{where} must be an integer")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise _invalid(f"{where} must be an integer")
        number = int(value)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise _invalid(f"{where} must be an integer")
    if not minimum <= number <= maximum:
        raise _invalid(f"{where} is out of range")
    return number


def _ms(value: Any, where: str) -> int | None:
    """int32 in proto3 JSON: a number or a numeric string, non-negative."""
    return _integer(value, where, maximum=_INT32_MAX)


def _bool(value: Any, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _invalid(f"{where} must be a boolean")
    return value


def _content_text(value: Any, where: str) -> str:
    """Join the text parts of a `Content` (a plain string is tolerated, as raw clients send)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    content = _obj(value, where)
    parts = content.get("parts") or []
    if not isinstance(parts, list):
        raise _invalid(f"{where}.parts must be a list")
    texts = []
    for part in parts:
        text = _obj(part, f"{where}.parts[]").get("text")
        if text is not None:
            if not isinstance(text, str):
                raise _invalid(f"{where}.parts[].text must be a string")
            texts.append(text)
    return "\n".join(texts)


def _model(raw: Any, version: str, today: dt.date | None) -> catalogue.Model:
    """The catalogue entry for `setup.model`; unknown and retired models are refused alike.

    Google answers both with the same 1008 "… is not found for API version …" close (the
    half-cascade models shut down on 2025-12-09 stopped being found), and model names must match
    exactly: there are no dated aliases on Gemini Live.
    """
    if not isinstance(raw, str) or not raw:
        raise _invalid("setup.model is required")
    name = raw.removeprefix("models/")
    shown = raw if raw.startswith("models/") else f"models/{raw}"
    entry = catalogue.find_model("gemini", name)
    if entry is None or entry.name != name:
        raise SetupRejected(1008, wire.model_not_found(shown, version), "unknown model")
    try:
        catalogue.usable("gemini", name, today=today)
    except catalogue.RetiredModelError as exc:
        raise SetupRejected(1008, wire.model_not_found(shown, version), str(exc)) from None
    return entry


def _tools(raw: Any, model: catalogue.Model) -> tuple[tuple[ToolSpec, ...], bool]:
    """The declared functions, and whether `googleSearch` was asked for."""
    if raw is None:
        return (), False
    if not isinstance(raw, list):
        raise _invalid("setup.tools must be a list")
    specs: list[ToolSpec] = []
    seen: set[str] = set()
    search = False
    default_behavior = "NON_BLOCKING" if model.tools == "async_default" else "BLOCKING"
    for tool in raw:
        tool_obj = _obj(tool, "setup.tools[]")
        _only(tool_obj, _TOOL_KEYS, "setup.tools[]")
        for key, reason in UNSUPPORTED_TOOLS.items():
            if tool_obj.get(key) is not None:
                raise SetupRejected(1007, reason, f"{key} for {model.name}")
        if tool_obj.get("googleSearch") is not None:
            _obj(tool_obj["googleSearch"], "googleSearch")
            search = True
        decls = tool_obj.get("functionDeclarations") or []
        if not isinstance(decls, list):
            raise _invalid("functionDeclarations must be a list")
        for decl in decls:
            d = _obj(decl, "functionDeclarations[]")
            _only(d, _DECLARATION_KEYS, "functionDeclarations[]")
            name = d.get("name")
            if not isinstance(name, str) or not name:
                raise _invalid("function declaration without a name")
            if name in seen:
                raise _invalid(f"duplicate function declaration {name!r}")
            if d.get("description") is not None and not isinstance(d["description"], str):
                raise _invalid(f"{name}.description must be a string")
            seen.add(name)
            try:
                params = declaration_parameters(d)
            except SchemaRejected as exc:
                raise _invalid(str(exc)) from exc
            behavior = _enum(d.get("behavior"), _BEHAVIOR, f"{name}.behavior")
            if behavior in (None, "UNSPECIFIED"):
                behavior = default_behavior
            if model.tools == "sync":
                behavior = "BLOCKING"  # e.g. 3.1 Flash Live runs tools synchronously only
            specs.append(
                ToolSpec(
                    name=name,
                    description=str(d.get("description") or ""),
                    parameters=params,
                    behavior="non_blocking" if behavior == "NON_BLOCKING" else "blocking",
                )
            )
    return tuple(specs), search


def live_generation(model: str) -> int:
    """The major version of a Live model's family: 2 for 2.x names, 3 for 3.x (default 3)."""
    match = re.search(r"(\d+)(?:\.\d+)?", model.removeprefix("gemini-live-"))
    if match is None:
        return 3
    return int(match.group(1))


def _default_coverage(model: str) -> str:
    """3.x models default to TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO (Gemini 3.1 Flash Live
    model page: "The model's turn now includes detected audio activity and all video frames"),
    earlier ones to TURN_INCLUDES_ONLY_ACTIVITY."""
    if live_generation(model) >= 3:
        return "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO"
    return "TURN_INCLUDES_ONLY_ACTIVITY"


def _thinking(gen: Mapping[str, Any]) -> tuple[str | None, int | None]:
    raw = gen.get("thinkingConfig")
    if raw is None:
        return None, None
    cfg = _obj(raw, "thinkingConfig")
    _only(cfg, _THINKING_KEYS, "thinkingConfig")
    level = _enum(cfg.get("thinkingLevel"), _THINKING_LEVELS, "thinkingLevel")
    if level == "THINKING_LEVEL_UNSPECIFIED":
        level = None
    budget = _integer(cfg.get("thinkingBudget"), "thinkingBudget", maximum=_INT32_MAX, minimum=-1)
    _bool(cfg.get("includeThoughts"), "thinkingConfig.includeThoughts")
    return level, budget


def _compression(raw: Any) -> tuple[bool, int, int]:
    """(enabled, trigger, target). `slidingWindow` is the only mechanism, so a config without
    it is read as `slidingWindow: {}` (the emulator's reading; the docs always send one)."""
    default_trigger = int(0.8 * CONTEXT_WINDOW_TOKENS)
    if raw is None:
        return False, default_trigger, default_trigger // 2
    cfg = _obj(raw, "contextWindowCompression")
    _only(cfg, _COMPRESSION_KEYS, "contextWindowCompression")
    window = _obj(cfg.get("slidingWindow"), "slidingWindow")
    _only(window, _SLIDING_KEYS, "slidingWindow")
    trigger = _integer(cfg.get("triggerTokens"), "triggerTokens", maximum=_INT64_MAX)
    target = _integer(window.get("targetTokens"), "targetTokens", maximum=_INT64_MAX)
    trigger = default_trigger if trigger is None else trigger
    target = trigger // 2 if target is None else target
    if target >= trigger:
        # google-genai: targetTokens "Should be < trigger_tokens". Stricter side: refused.
        raise _invalid("slidingWindow.targetTokens must be below triggerTokens")
    return True, trigger, target


def parse_setup(raw_setup: Any, *, api_version: str, today: dt.date | None = None) -> GeminiSetup:
    """Validate a camelCased `setup` object; raise `SetupRejected` with the server's close.

    `today` is the day model shutdowns are judged by (None: the real date).
    """
    setup = _obj(raw_setup, "setup")
    _only(setup, _SETUP_KEYS, "setup")
    entry = _model(setup.get("model"), api_version, today)
    model = entry.name
    if setup.get("explicitVadSignal") is not None:
        raise _invalid("explicitVadSignal is not supported on the Gemini API")

    gen = _obj(setup.get("generationConfig"), "generationConfig")
    bad = sorted(set(gen) & _UNSUPPORTED_GENERATION_KEYS)
    if bad:
        raise _invalid(f"generationConfig fields not supported by Live: {bad}")
    _only(gen, _GENERATION_KEYS, "generationConfig")
    modalities = gen.get("responseModalities") or ["AUDIO"]
    if not isinstance(modalities, list) or len(modalities) != 1:
        raise _invalid("responseModalities must hold exactly one modality")
    modality_name = _enum(modalities[0], frozenset({"AUDIO", "TEXT"}), "responseModalities")
    if modality_name == "TEXT" and not entry.text_output:
        raise SetupRejected(1007, wire.TEXT_NOT_SUPPORTED, model)
    if gen.get("thinkingConfig") is not None and model == "gemini-3.8-live":
        raise _invalid("gemini-3.8-live does not accept a thinking config")
    thinking_level, thinking_budget = _thinking(gen)
    resolution = _enum(gen.get("mediaResolution"), _MEDIA_RESOLUTIONS, "mediaResolution")
    if resolution == "MEDIA_RESOLUTION_UNSPECIFIED":
        resolution = None

    speech = _obj(gen.get("speechConfig"), "speechConfig")
    if "multiSpeakerVoiceConfig" in speech:
        raise _invalid("multiSpeakerVoiceConfig is not supported by Live")
    voice_cfg = _obj(speech.get("voiceConfig"), "speechConfig.voiceConfig")
    prebuilt = _obj(voice_cfg.get("prebuiltVoiceConfig"), "voiceConfig.prebuiltVoiceConfig")
    voice = prebuilt.get("voiceName", wire.DEFAULT_VOICE)
    voices = wire.HALF_CASCADE_VOICES if entry.audio == "cascade" else wire.HD_VOICES
    if not isinstance(voice, str) or voice not in voices:
        raise _invalid(f"unknown voice {voice!r} for {model}")
    language = speech.get("languageCode")
    if language is not None and not isinstance(language, str):
        raise _invalid("languageCode must be a string")

    rtc = _obj(setup.get("realtimeInputConfig"), "realtimeInputConfig")
    _only(rtc, _REALTIME_INPUT_KEYS, "realtimeInputConfig")
    aad = _obj(rtc.get("automaticActivityDetection"), "automaticActivityDetection")
    _only(aad, _VAD_KEYS, "automaticActivityDetection")
    vad = VadSettings(
        disabled=_bool(aad.get("disabled"), "automaticActivityDetection.disabled"),
        start_sensitivity=_enum(aad.get("startOfSpeechSensitivity"), _START_SENS, "start"),
        end_sensitivity=_enum(aad.get("endOfSpeechSensitivity"), _END_SENS, "end"),
        prefix_padding_ms=_ms(aad.get("prefixPaddingMs"), "prefixPaddingMs"),
        silence_duration_ms=_ms(aad.get("silenceDurationMs"), "silenceDurationMs"),
    )
    handling = _enum(rtc.get("activityHandling"), _ACTIVITY_HANDLING, "activityHandling")
    coverage = _enum(rtc.get("turnCoverage"), _TURN_COVERAGE, "turnCoverage")

    resumption = setup.get("sessionResumption")
    res = _obj(resumption, "sessionResumption")
    _only(res, frozenset({"handle", "transparent"}), "sessionResumption")
    handle = res.get("handle")
    if handle is not None and not isinstance(handle, str):
        raise _invalid("sessionResumption.handle must be a string")
    if res.get("transparent") is not None:
        raise SetupRejected(1007, TRANSPARENT_NOT_SUPPORTED, "transparent is Vertex-only")

    compression, trigger, target = _compression(setup.get("contextWindowCompression"))
    history = _obj(setup.get("historyConfig"), "historyConfig")
    _only(history, _HISTORY_KEYS, "historyConfig")
    initial_history = _bool(
        history.get("initialHistoryInClientContent"), "historyConfig.initialHistoryInClientContent"
    )
    tools, search = _tools(setup.get("tools"), entry)
    for key in ("inputAudioTranscription", "outputAudioTranscription", "proactivity"):
        _obj(setup.get(key), key)
    proactivity = _obj(setup.get("proactivity"), "proactivity")
    if model == "gemini-3.8-live" and proactivity.get("proactiveAudio") is False:
        raise _invalid("gemini-3.8-live always uses proactive audio")

    return GeminiSetup(
        model=model,
        api_version=api_version,
        modality="text" if modality_name == "TEXT" else "audio",
        voice=voice,
        language_code=language,
        instructions=_content_text(setup.get("systemInstruction"), "systemInstruction"),
        tools=tools,
        vad=vad,
        activity_handling=(
            handling
            if handling not in (None, "ACTIVITY_HANDLING_UNSPECIFIED")
            else "START_OF_ACTIVITY_INTERRUPTS"
        ),
        turn_coverage=(
            coverage
            if coverage not in (None, "TURN_COVERAGE_UNSPECIFIED")
            else _default_coverage(model)
        ),
        input_transcription=setup.get("inputAudioTranscription") is not None,
        output_transcription=setup.get("outputAudioTranscription") is not None,
        resumption=resumption is not None,
        resume_handle=handle or None,
        compression=compression,
        trigger_tokens=trigger,
        target_tokens=target,
        context_updates=entry.context_updates,
        initial_history=initial_history,
        google_search=search,
        media_resolution=resolution,
        reasoning=entry.reasoning,
        thinking_level=thinking_level,
        thinking_budget=thinking_budget,
        generation=live_generation(model),
        raw=copy.deepcopy(dict(setup)),
    )


# --- ephemeral-token constraints ----------------------------------------------------------


def _get(obj: Mapping[str, Any], path: Sequence[str]) -> tuple[bool, Any]:
    cur: Any = obj
    for key in path:
        if not isinstance(cur, Mapping) or key not in cur:
            return False, None
        cur = cur[key]
    return True, cur


def _set(obj: dict[str, Any], path: Sequence[str], value: Any) -> None:
    cur = obj
    for key in path[:-1]:
        nxt = cur.get(key)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[key] = nxt
        cur = nxt
    cur[path[-1]] = copy.deepcopy(value)


def _delete(obj: dict[str, Any], path: Sequence[str]) -> None:
    cur: Any = obj
    for key in path[:-1]:
        cur = cur.get(key) if isinstance(cur, dict) else None
        if cur is None:
            return
    if isinstance(cur, dict):
        cur.pop(path[-1], None)


def _leaf_paths(obj: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths two levels deep at most, like the SDK's own `_get_field_masks`."""
    out: list[tuple[str, ...]] = []
    for key, value in obj.items():
        if isinstance(value, Mapping) and value and not prefix:
            out.extend(_leaf_paths(value, (key,)))
        else:
            out.append((*prefix, key))
    return out


def apply_constraints(
    client_setup: Mapping[str, Any],
    token_setup: Mapping[str, Any] | None,
    field_mask: Sequence[str] | None,
) -> dict[str, Any]:
    """Merge an ephemeral token's `bidiGenerateContentSetup` into the client's setup.

    Our reading of the docs ("changing `outputAudioTranscription` … will be ignored by the API"):
    locked fields *override* the client silently, they do not reject the setup.

    * no token setup: nothing is locked, the client's setup is used as sent;
    * token setup and no field mask: the whole constrained setup is locked, so it *replaces*
      the client's — except `sessionResumption.handle`, which names a session rather than
      configuring one, and is kept so resumption works with a locked token;
    * a field mask: each listed path takes the token's value (or is removed when the token does
      not set it); unlisted fields the token sets act as defaults the client may override.

    Both inputs must already be camelCased; mask paths are camelCased here.
    """
    merged = copy.deepcopy(dict(client_setup))
    if not token_setup:
        return merged
    if field_mask is None:
        locked = copy.deepcopy(dict(token_setup))
        found, handle = _get(client_setup, ("sessionResumption", "handle"))
        if found and handle:
            _set(locked, ("sessionResumption", "handle"), handle)
        return locked
    mask = [tuple(wire.to_camel(p) for p in entry.strip().split(".")) for entry in field_mask]
    mask = [m for m in mask if m and m[0]]
    for path in _leaf_paths(token_setup):
        if not _get(merged, path)[0]:
            _set(merged, path, _get(token_setup, path)[1])
    for path in mask:
        found, value = _get(token_setup, path)
        if found:
            _set(merged, path, value)
        else:
            _delete(merged, path)
    return merged
