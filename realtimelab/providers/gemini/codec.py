"""Gemini Live (BidiGenerateContent) as a sans-IO codec: verbs → JSON frames, frames → events.

Wire choices, and why:
- Frames we send are camelCase (the proto's JSON names) with **standard** base64 audio and an
  explicit `audio/pcm;rate=16000` mime type: a missing rate silently degrades recognition.
- `send_text` uses `realtimeInput.text`: it is the live-conversation path on current models
  (3.x), subject to the same turn handling as speech. `clientContent` is kept for
  `encode_history` (seeding context), which is what Google documents it for.
- With automatic VAD off the client brackets speech: the first audio after a commit is preceded
  by `activityStart`, and `commit()` sends `activityEnd`. With VAD on, `commit()` sends
  `audioStreamEnd` (the mic paused), which makes the server close the turn.
- Server frames arrive as binary UTF-8 JSON (text is accepted too); keys are read camelCase
  first, snake_case tolerated.

- Pictures go in as `realtimeInput.video` frames (the camera path: JPEG/PNG bytes with their
  mime type); the server adds them to the user's next turn. Gemini has no G.711: the session
  transcodes telephone audio to and from PCM16 (`realtimelab.wire_audio`), so this codec only
  ever sees PCM16.
- `SessionConfig.web_search` declares the `googleSearch` tool; a grounded answer's
  `groundingMetadata` (alone on 2.5 models, bundled with `generationComplete` on 3.x) becomes
  a `Grounding` event before the reply's end.

Gemini has no response ids and no server `speech_started`; it cuts its own reply on barge-in
(`interrupted`), so there is nothing to truncate. The codec assembles per-turn transcripts
(Gemini sends fragments) and announces `OutputTranscript(final=True)` once per turn, so both
providers end a spoken reply the same way.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from realtimelab import events as ev
from realtimelab.catalogue import Model, default_model, find_model, models_for
from realtimelab.config import SessionConfig, deep_merge, warn_unsupported
from realtimelab.providers import wire
from realtimelab.providers.base import (
    AssistantText,
    Capabilities,
    ConnectRequest,
    Frame,
    HistoryItem,
    ToolCallRecord,
    ToolResult,
    ToolResultRecord,
    UserImage,
    UserText,
    close_events,
    image_placeholder,
    with_query,
)
from realtimelab.providers.gemini.session_config import (
    realtime_input_config,
    unsupported_settings,
)
from realtimelab.providers.gemini.tools import wire_tool
from realtimelab.voices import resolve_voice

__all__ = ["CAPABILITIES", "DEFAULT_MODEL", "TITLE", "GeminiCodec", "parse_duration"]

TITLE = "Gemini Live"
DEFAULT_URL = "wss://generativelanguage.googleapis.com"
#: The model a codec opens when none is named: the catalogue's current recommendation.
DEFAULT_MODEL = default_model("gemini").name
_PATH = "/ws/google.ai.generativelanguage.{version}.GenerativeService.{method}"
INPUT_RATE = 16000
OUTPUT_RATE = 24000
INPUT_MIME = f"audio/pcm;rate={INPUT_RATE}"
_CONNECTIONS = itertools.count(1)  # numbers codecs, to keep item ids unique (see `_item_id`)
_RATE_RE = re.compile(r"rate=(\d{1,7})")
MIN_AUDIO_RATE, MAX_AUDIO_RATE = 8000, 192_000

CAPABILITIES = Capabilities(
    provider="gemini",
    input_rate=INPUT_RATE,
    output_rate=OUTPUT_RATE,
    server_vad=True,
    semantic_vad=False,
    speech_started_events=False,
    manual_commit=False,
    manual_activity=True,
    truncation=False,
    client_cancel=False,
    session_update=False,
    resumption=True,
    go_away=True,
    non_blocking_tools=True,
    text_output=False,
    ephemeral_tokens=True,
    max_connection_s=600.0,
    image_input=True,
    g711_native=False,
    out_of_band_responses=False,
    delete_items=False,
    retrieve_items=False,
    clear_input=False,
    transcription_sessions=False,
    web_search=True,
)


def _facts(model: str) -> Model:
    """The catalogue's entry for `model`; an unknown (newer) model is assumed to be like the
    default one, which is what Google's newest models have been."""
    return find_model("gemini", model) or default_model("gemini")


def parse_duration(value: Any) -> float | None:
    """`google.protobuf.Duration` JSON (`"50s"`, `"1.5s"`) → seconds; None if unreadable."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value.endswith("s"):
        try:
            return float(value[:-1])
        except ValueError:
            return None
    return None


def _get(d: Mapping[str, Any], camel: str) -> Any:
    """`d[camel]`, falling back to its snake_case spelling (the server may send either)."""
    if camel in d:
        return d[camel]
    return d.get(_snake(camel))


@functools.cache
def _snake(camel: str) -> str:
    # cached: this runs for every missing key of every frame (a regex each time cost ~70 µs/frame)
    return re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()


def _b64decode(data: str) -> bytes:
    """Standard or URL-safe base64, padding optional (Google vs the SDK's spelling).

    Standard padded base64, what the service sends, goes straight to the C decoder's strict
    mode; only what it refuses pays for the normalising, regex-validated path.
    """
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        pass
    s = data.replace("-", "+").replace("_", "/")
    return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)


def _error_output(output: Any) -> dict[str, Any]:
    return {"error": output}


class GeminiCodec:
    """Sans-IO Gemini Live codec. One instance per connection."""

    provider: ev.Provider = "gemini"

    def __init__(self, model: str | None = None) -> None:
        name = model or DEFAULT_MODEL
        self.model = name.removeprefix("models/")
        self.capabilities = dataclasses.replace(
            CAPABILITIES,
            text_output=_facts(self.model).text_output,
            non_blocking_tools=_facts(self.model).tools != "sync",
        )
        self._manual_activity = False
        self._activity_open = False
        self._in_turn = False
        self._generated = False  # GenerationComplete was reported for this turn
        self._interrupted = False
        self._usage: ev.Usage | None = None
        self._out_text: list[str] = []
        self._out_final_sent = False
        self._in_text: list[str] = []
        self._pending_calls: dict[str, str] = {}  # call_id -> name
        self._audio_ms = 0.0  # audio received in the current turn
        self._turn_index = 0
        self._named_turn = -1
        self._turn_name = ""
        self._connection = next(_CONNECTIONS)
        self._late_parts: list[dict[str, Any]] = []  # late results held until the turn ends
        self._outgoing: list[Frame] = []

    # ------------------------------------------------------------------ connection & config

    def connect_request(
        self,
        *,
        api_key: str | None = None,
        token: str | None = None,
        base_url: str | None = None,
        query: Mapping[str, str] | None = None,
    ) -> ConnectRequest:
        """Credentials go in headers, never the URL (`?key=` / `?access_token=` also work on
        Google's side, which is exactly why `query` may not set them: see `with_query`)."""
        base = (base_url or DEFAULT_URL).rstrip("/")
        if base.startswith("http"):
            base = "ws" + base[len("http") :]
        if token:
            path = _PATH.format(version="v1alpha", method="BidiGenerateContentConstrained")
            return ConnectRequest(
                url=with_query(base + path, query), headers={"Authorization": f"Token {token}"}
            )
        if not api_key:
            raise ValueError("Gemini needs an api_key or an ephemeral token (auth_tokens/…)")
        path = _PATH.format(version="v1beta", method="BidiGenerateContent")
        return ConnectRequest(
            url=with_query(base + path, query), headers={"x-goog-api-key": api_key}
        )

    def initial_frames(self, config: SessionConfig, *, resume: str | None = None) -> list[Frame]:
        extra = config.extra.get(self.provider) or {}
        if config.output == "text" and not self.capabilities.text_output:
            modalities = extra.get("generationConfig", {}).get("responseModalities")
            if not modalities:
                text_models = [m.name for m in models_for("gemini") if m.text_output and m.served]
                alternative = (
                    f", or a model that answers in text ({', '.join(text_models)})"
                    if text_models
                    else " (no Gemini Live model that is still served answers in TEXT)"
                )
                raise ValueError(
                    f"Gemini model {self.model!r} answers in audio only (native-audio models "
                    "reject the TEXT modality). Use output='audio' with output_transcription=True "
                    f"to get its words as text{alternative}."
                )
        generation: dict[str, Any] = {
            "responseModalities": ["TEXT" if config.output == "text" else "AUDIO"]
        }
        voice = resolve_voice(config.voice, "gemini")
        if voice:
            generation["speechConfig"] = {
                "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": voice}}
            }
        if config.temperature is not None:
            generation["temperature"] = config.temperature
        if config.max_output_tokens is not None and config.max_output_tokens != "inf":
            generation["maxOutputTokens"] = config.max_output_tokens
        setup: dict[str, Any] = {"model": f"models/{self.model}", "generationConfig": generation}
        if config.instructions:
            setup["systemInstruction"] = {"role": "user", "parts": [{"text": config.instructions}]}
        tools = self._tools(config)
        declared: list[dict[str, Any]] = [{"functionDeclarations": tools}] if tools else []
        if config.web_search:
            declared.append({"googleSearch": {}})
        if declared:
            setup["tools"] = declared
        realtime = realtime_input_config(config.vad)
        if realtime:
            setup["realtimeInputConfig"] = realtime
        detection = realtime.get("automaticActivityDetection") or {} if realtime else {}
        self._manual_activity = bool(detection.get("disabled"))
        if config.input_transcription:
            setup["inputAudioTranscription"] = {}
        if config.output_transcription:
            setup["outputAudioTranscription"] = {}
        setup["sessionResumption"] = {"handle": resume} if resume else {}
        if extra:
            setup = deep_merge(setup, extra)
        warn_unsupported(self.provider, unsupported_settings(config), title=TITLE)
        return [{"setup": setup}]

    def _tools(self, config: SessionConfig) -> list[dict[str, Any]]:
        choice = config.tool_choice
        if choice == "none":
            return []  # Live has no tool_choice: not declaring tools is the only way to forbid them
        if choice not in (None, "auto"):
            raise ValueError(
                f"Gemini Live has no tool_choice {choice!r} (only 'auto', or 'none' which "
                "declares no tools)"
            )
        # Gemini's Schema where it carries the JSON Schema losslessly, else the JSON Schema as is.
        declarations = [wire_tool(tool) for tool in config.tools]
        if _facts(self.model).tools == "async_default":
            # these models run an undeclared function NON_BLOCKING; a kit tool is blocking
            # unless it says otherwise, so say BLOCKING out loud
            for decl in declarations:
                decl.setdefault("behavior", "BLOCKING")
        return declarations

    def update_frames(self, config: SessionConfig) -> list[Frame]:
        raise NotImplementedError(
            "Gemini Live cannot change a session's configuration in place "
            "(capabilities.session_update is False): reconnect with the new config, resuming "
            "with the session's resumption handle to keep the conversation"
        )

    # ------------------------------------------------------------------ verbs

    def encode_audio(self, pcm: bytes) -> list[Frame]:
        frames: list[Frame] = []
        if self._manual_activity and not self._activity_open:
            self._activity_open = True
            frames.append({"realtimeInput": {"activityStart": {}}})
        data = binascii.b2a_base64(pcm, newline=False).decode("ascii")
        frames.append({"realtimeInput": {"audio": {"data": data, "mimeType": INPUT_MIME}}})
        return frames

    def encode_text(self, text: str) -> list[Frame]:
        return [{"realtimeInput": {"text": text}}]

    def encode_image(self, data: bytes, mime: str) -> list[Frame]:
        """One `realtimeInput.video` frame (standard base64 with its mime type): the camera
        path, which the server adds to the user's next turn without starting a reply."""
        blob = {"data": base64.b64encode(data).decode("ascii"), "mimeType": mime}
        return [{"realtimeInput": {"video": blob}}]

    def encode_tool_responses(self, results: Sequence[ToolResult]) -> list[Frame]:
        """ONE `toolResponse` carrying every result (parallel calls answered together)."""
        responses = []
        for r in results:
            resp = self._function_response(r, "tool result")
            if r.scheduling is not None:
                resp["scheduling"] = r.scheduling
            if r.will_continue is not None:
                resp["willContinue"] = r.will_continue
            if not r.will_continue:
                self._pending_calls.pop(r.call_id, None)
            responses.append(resp)
        if not responses:
            return []
        return [{"toolResponse": {"functionResponses": responses}}]

    def encode_late_tool_results(self, results: Sequence[ToolResult]) -> list[Frame]:
        """ONE `clientContent` whose user turn holds a `functionResponse` part per result, with
        `turnComplete: true` (the reply request). Not a `toolResponse`: the server ignores one
        for a call it considers answered. Held while the model's turn is open (a
        `clientContent` interrupts a generation in progress) and sent, merged into one frame,
        from `take_outgoing()` after its `turnComplete`."""
        parts = [
            {"functionResponse": self._function_response(r, "late tool result")} for r in results
        ]
        if not parts:
            return []
        self._late_parts.extend(parts)
        return [] if self._in_turn else self._late_frame()

    def _function_response(self, r: ToolResult, what: str) -> dict[str, Any]:
        """`r` as a `FunctionResponse` (id, name, response): Gemini needs the function's name,
        taken from the call when the result does not carry it (`what` names the result in the
        error when neither does)."""
        name = r.name or self._pending_calls.get(r.call_id)
        if not name:
            raise ValueError(
                f"{what} for unknown call id {r.call_id!r}: pass name= (Gemini needs the "
                "function name with every response)"
            )
        response = _error_output(r.output) if r.is_error else {"output": r.output}
        return {"id": r.call_id, "name": name, "response": response}

    def _late_frame(self) -> list[Frame]:
        parts, self._late_parts = self._late_parts, []
        if not parts:
            return []
        turn = {"role": "user", "parts": parts}
        return [{"clientContent": {"turns": [turn], "turnComplete": True}}]

    def encode_commit(self) -> list[Frame]:
        if self._manual_activity:
            if not self._activity_open:
                return []
            self._activity_open = False
            return [{"realtimeInput": {"activityEnd": {}}}]
        return [{"realtimeInput": {"audioStreamEnd": True}}]

    def encode_create_response(self) -> list[Frame]:
        """An empty complete client turn: the documented way to make the model answer now."""
        return [{"clientContent": {"turnComplete": True}}]

    def encode_interrupt(self, item_id: str | None, played_ms: float) -> list[Frame]:
        return []  # the server cut its reply itself (`interrupted`); nothing to truncate

    def encode_cancel(self) -> list[Frame]:
        return []  # no client cancel: new input (or the server's VAD) cuts a reply

    def encode_history(self, items: Sequence[HistoryItem]) -> list[Frame]:
        """One `clientContent` with every record as a turn, `turnComplete: false` so replaying
        context does not itself start a reply."""
        turns: list[dict[str, Any]] = []
        for item in items:
            if isinstance(item, UserText):
                turns.append({"role": "user", "parts": [{"text": item.text}]})
            elif isinstance(item, UserImage):  # history keeps no image bytes (see UserImage)
                turns.append({"role": "user", "parts": [{"text": image_placeholder(item)}]})
            elif isinstance(item, AssistantText):
                turns.append({"role": "model", "parts": [{"text": item.text}]})
            elif isinstance(item, ToolCallRecord):
                try:
                    args = json.loads(item.arguments_json or "{}")
                except ValueError:
                    args = {"_raw": item.arguments_json}
                call = {"id": item.call_id, "name": item.name, "args": args}
                turns.append({"role": "model", "parts": [{"functionCall": call}]})
            elif isinstance(item, ToolResultRecord):
                try:
                    output = json.loads(item.output)
                except ValueError:
                    output = item.output
                fr = {"id": item.call_id, "name": item.name, "response": {"output": output}}
                turns.append({"role": "user", "parts": [{"functionResponse": fr}]})
            else:  # pragma: no cover - the union is closed
                raise TypeError(f"not a history item: {item!r}")
        if not turns:
            return []
        return [{"clientContent": {"turns": turns, "turnComplete": False}}]

    # ------------------------------------------------------------------ state queries

    @property
    def last_audio_item(self) -> str | None:
        return self._item_id() if self._audio_ms else None

    def received_ms(self, item_id: str | None) -> float:
        return self._audio_ms

    def take_outgoing(self) -> list[Frame]:
        out, self._outgoing = self._outgoing, []
        return out

    # ------------------------------------------------------------------ decoding

    def decode(self, frame: str | bytes | dict[str, Any], t: float) -> list[ev.Event]:
        """Frame → events. Never raises: a frame that is not a JSON object, or whose fields
        have the wrong types or impossible values (`rate=0`, `Infinity` token counts), becomes
        one `Error(code="malformed_frame")` carrying the frame."""
        try:
            msg = frame if isinstance(frame, dict) else wire.loads(frame)
        except (ValueError, UnicodeDecodeError) as e:
            return [_error(t, {}, f"malformed frame (not JSON): {e}")]
        if not isinstance(msg, dict):
            return [_error(t, {}, "malformed frame: not a JSON object")]
        raw: ev.Raw = (msg,)
        try:
            if self._in_turn and len(msg) == 1:
                chunk = self._audio_only(msg, t, raw)
                if chunk is not None:
                    return [chunk]
            return self._decode(msg, t, raw)
        except Exception as e:  # untrusted input: any failure is the frame's, never the session's
            return [_error(t, msg, f"malformed message: {type(e).__name__}: {e}")]

    def _decode(self, msg: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        out: list[ev.Event] = []
        usage = _get(msg, "usageMetadata")
        if isinstance(usage, dict):
            self._usage = _usage(usage)
        if _get(msg, "setupComplete") is not None:
            sc = _obj(msg, "setupComplete")
            out.append(
                ev.SessionStarted(
                    provider="gemini",
                    t=t,
                    raw=raw,
                    session_id=wire.opt_text(_snaked(sc), "sessionId"),
                    model=self.model,
                )
            )
        content = _get(msg, "serverContent")
        if isinstance(content, dict):
            out += self._server_content(content, t, raw)
        tool_call = _get(msg, "toolCall")
        if isinstance(tool_call, dict):
            calls = _get(tool_call, "functionCalls") or []
            if not isinstance(calls, list):
                raise wire.Malformed("`functionCalls` should be a list")
            out += self._start_turn(t, raw)
            for call in calls:
                if not isinstance(call, dict):
                    raise wire.Malformed("a function call should be an object")
                call_id, name = wire.text(call, "id"), wire.text(call, "name")
                if not call_id or not name:
                    raise wire.Malformed("a function call needs an id and a name")
                args = call.get("args")
                args = {} if args is None else args
                self._pending_calls[call_id] = name
                out.append(
                    ev.ToolCall(
                        provider="gemini",
                        t=t,
                        raw=raw,
                        call_id=call_id,
                        name=name,
                        arguments=args if isinstance(args, dict) else None,
                        arguments_json=json.dumps(args, allow_nan=False),
                    )
                )
        cancel = _get(msg, "toolCallCancellation")
        if isinstance(cancel, dict):
            raw_ids = cancel.get("ids") or []
            if not isinstance(raw_ids, list):
                raise wire.Malformed("`ids` should be a list")
            ids = tuple(str(i) for i in raw_ids if isinstance(i, str | int))
            for i in ids:
                self._pending_calls.pop(i, None)
            out.append(ev.ToolCallCancelled(provider="gemini", t=t, raw=raw, call_ids=ids))
        go_away = _get(msg, "goAway")
        if isinstance(go_away, dict):
            out.append(
                ev.SessionExpiring(
                    provider="gemini",
                    t=t,
                    raw=raw,
                    time_left_s=parse_duration(_get(go_away, "timeLeft")),
                )
            )
        resumption = _get(msg, "sessionResumptionUpdate")
        if isinstance(resumption, dict):
            r = _snaked(resumption)
            index = r.get("lastConsumedClientMessageIndex")
            out.append(
                ev.ResumptionUpdate(
                    provider="gemini",
                    t=t,
                    raw=raw,
                    handle=wire.opt_text(r, "newHandle"),
                    resumable=wire.flag(r, "resumable"),
                    last_consumed_index=(
                        wire.count(r, "lastConsumedClientMessageIndex")
                        if index is not None
                        else None
                    ),
                )
            )
        activity = _get(msg, "voiceActivity")
        if isinstance(activity, dict):
            kind = activity.get("type") or _get(activity, "voiceActivityType")
            offset = parse_duration(_get(activity, "audioOffset"))
            audio_ms = offset * 1000 if offset is not None else None
            if kind == "ACTIVITY_START":
                out.append(ev.SpeechStarted(provider="gemini", t=t, raw=raw, audio_ms=audio_ms))
            elif kind == "ACTIVITY_END":
                out.append(ev.SpeechStopped(provider="gemini", t=t, raw=raw, audio_ms=audio_ms))
        return out

    def _item_id(self) -> str:
        """Gemini has no item ids; the codec names each model turn. Unique per process (the
        connection number is part of it), so a conversation that spans connections never
        mistakes a new turn for one it cut earlier."""
        if self._named_turn != self._turn_index:  # built once per turn, not per audio frame
            self._named_turn = self._turn_index
            self._turn_name = f"c{self._connection}-turn-{self._turn_index}"
        return self._turn_name

    def _audio_only(self, msg: dict[str, Any], t: float, raw: ev.Raw) -> ev.AudioChunk | None:
        """Most frames are one audio part of the turn in progress and nothing else: decoded
        here by the same `_audio` as the general path, without probing for every other field
        (in both spellings) first. None when the frame is anything more."""
        content = msg.get("serverContent")
        if type(content) is not dict or len(content) != 1:
            return None
        turn = content.get("modelTurn")
        if type(turn) is not dict:
            return None
        parts = turn.get("parts")
        if type(parts) is not list or len(parts) != 1:
            return None
        part = parts[0]
        if type(part) is not dict or len(part) != 1:
            return None
        inline = part.get("inlineData")
        if type(inline) is not dict:
            return None
        return self._audio(inline, t, raw)

    def _audio(self, inline: dict[str, Any], t: float, raw: ev.Raw) -> ev.AudioChunk:
        """One `inlineData` audio part of the current turn."""
        data = inline.get("data")
        pcm = _b64decode(data if type(data) is str else wire.text(inline, "data"))
        mime = inline["mimeType"] if "mimeType" in inline else inline.get("mime_type")
        rate = _rate_of(mime) if type(mime) is str else _mime_rate(mime)
        if len(pcm) % 2:
            raise wire.Malformed("audio data is not whole PCM16 samples")
        self._audio_ms += len(pcm) / 2 / rate * 1000
        return ev.audio_chunk("gemini", t, raw, pcm, rate, self._item_id())

    def _start_turn(self, t: float, raw: ev.Raw) -> list[ev.Event]:
        if self._in_turn:
            return []
        self._in_turn = True
        self._generated = False
        self._turn_index += 1
        self._audio_ms = 0.0
        return [ev.ResponseStarted(provider="gemini", t=t, raw=raw)]

    def _server_content(self, c: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        """One `serverContent`. 3.x models bundle several fields in one message (audio parts,
        an output transcript, `generationComplete`...): every field is read, in the order the
        protocol gives them meaning."""
        out: list[ev.Event] = []
        item = self._item_id()
        transcription = _get(c, "inputTranscription")
        if isinstance(transcription, dict):
            text = wire.text(transcription, "text")
            if text:
                self._in_text.append(text)
                out.append(
                    ev.InputTranscript(provider="gemini", t=t, raw=raw, text=text, final=False)
                )
            if wire.flag(transcription, "finished"):
                out += self._final_input(t, raw)
        model_turn = _get(c, "modelTurn")
        if isinstance(model_turn, dict):
            parts = model_turn.get("parts") or []
            if not isinstance(parts, list):
                raise wire.Malformed("`parts` should be a list")
            out += self._start_turn(t, raw)
            item = self._item_id()
            for part in parts:
                if not isinstance(part, dict):
                    raise wire.Malformed("a part should be an object")
                inline = _get(part, "inlineData")
                if isinstance(inline, dict):
                    out.append(self._audio(inline, t, raw))
                elif isinstance(part.get("text"), str) and not part.get("thought"):
                    out.append(
                        ev.TextDelta(
                            provider="gemini", t=t, raw=raw, text=part["text"], item_id=item
                        )
                    )
        output = _get(c, "outputTranscription")
        if isinstance(output, dict):
            text = wire.text(output, "text")
            if text:
                out += self._start_turn(t, raw)
                item = self._item_id()
                self._out_text.append(text)
                out.append(
                    ev.OutputTranscript(provider="gemini", t=t, raw=raw, text=text, item_id=item)
                )
        grounding = _get(c, "groundingMetadata")
        if isinstance(grounding, dict):
            out.append(_grounding(grounding, t, raw, self._item_id() if self._in_turn else None))
        if _get(c, "interrupted"):
            self._interrupted = True
            out += self._final_output(t, raw)
            out += self._generation_done(t, raw, "cancelled")
            out.append(ev.Interrupted(provider="gemini", t=t, raw=raw, reason="turn_detected"))
        if _get(c, "generationComplete"):
            out += self._final_output(t, raw)
            out += self._generation_done(t, raw, "completed")
        if _get(c, "turnComplete"):
            status = "cancelled" if self._interrupted else "completed"
            out += self._final_input(t, raw)
            out += self._final_output(t, raw)
            if self._in_turn:
                out += self._generation_done(t, raw, status)
            reason = _get(c, "turnCompleteReason")
            out.append(
                ev.TurnComplete(
                    provider="gemini",
                    t=t,
                    raw=raw,
                    status=status,
                    usage=self._usage,
                    reason=reason if isinstance(reason, str) else None,
                )
            )
            self._in_turn = False
            self._interrupted = False
            self._usage = None
            self._out_text.clear()
            self._out_final_sent = False
            self._outgoing += self._late_frame()
        return out

    def _generation_done(self, t: float, raw: ev.Raw, status: str) -> list[ev.Event]:
        """`GenerationComplete` once per turn: at `generationComplete`, or where the turn's
        generation otherwise ended (`interrupted`, or a `turnComplete` without it)."""
        if self._generated:
            return []
        self._generated = True
        return [ev.GenerationComplete(provider="gemini", t=t, raw=raw, status=status)]

    def _final_output(self, t: float, raw: ev.Raw) -> list[ev.Event]:
        if self._out_final_sent or not self._out_text:
            return []
        self._out_final_sent = True
        return [
            ev.OutputTranscript(
                provider="gemini",
                t=t,
                raw=raw,
                text="".join(self._out_text),
                final=True,
                item_id=self._item_id(),
            )
        ]

    def _final_input(self, t: float, raw: ev.Raw) -> list[ev.Event]:
        if not self._in_text:
            return []
        text = "".join(self._in_text).strip()
        self._in_text.clear()
        return [ev.InputTranscript(provider="gemini", t=t, raw=raw, text=text, final=True)]

    def decode_close(
        self, code: int | None, reason: str, t: float, expected: bool
    ) -> list[ev.Event]:
        """Gemini reports errors only by closing (1007 bad setup, 1008 model/handle/policy:
        fatal; 1011 internal, and the 1011 "Deadline expired" that follows `goAway`:
        retryable), per the table in `providers/base.py`. A 1000 is a normal closure whatever
        came before it: the connection's end after `goAway` is observed as 1011, so a 1000 is
        not taken as a sign of it."""
        return close_events("gemini", code, reason, t, expected)


def _usage(u: Mapping[str, Any]) -> ev.Usage:
    s = _snaked(u)

    def by_modality(key: str) -> dict[str, int]:
        entries = s.get(key) or []
        if not isinstance(entries, list):
            raise wire.Malformed(f"`{key}` should be a list")
        out: dict[str, int] = {}
        for d in entries:
            if isinstance(d, dict):
                d = _snaked(d)
                out[str(d.get("modality"))] = wire.count(d, "tokenCount")
        return out

    prompt = by_modality("promptTokensDetails")
    response = by_modality("responseTokensDetails")
    cached = by_modality("cacheTokensDetails")
    return ev.Usage(
        input_tokens=wire.count(s, "promptTokenCount"),
        output_tokens=wire.count(s, "responseTokenCount"),
        total_tokens=wire.count(s, "totalTokenCount"),
        input_audio_tokens=prompt.get("AUDIO", 0),
        input_text_tokens=prompt.get("TEXT", 0),
        input_image_tokens=prompt.get("IMAGE", 0),
        input_video_tokens=prompt.get("VIDEO", 0),
        output_audio_tokens=response.get("AUDIO", 0),
        output_text_tokens=response.get("TEXT", 0),
        cached_tokens=wire.count(s, "cachedContentTokenCount"),
        cached_text_tokens=cached.get("TEXT", 0),
        cached_audio_tokens=cached.get("AUDIO", 0),
        cached_image_tokens=cached.get("IMAGE", 0),
        thoughts_tokens=wire.count(s, "thoughtsTokenCount"),
        tool_use_prompt_tokens=wire.count(s, "toolUsePromptTokenCount"),
    )


def _grounding(g: dict[str, Any], t: float, raw: ev.Raw, item_id: str | None) -> ev.Grounding:
    """`groundingMetadata` → `Grounding`: the queries, the web sources (`groundingChunks`
    entries with a `web` member; others, such as retrieved context, are not web sources) and
    the search chip HTML."""
    g = _snaked(g)
    queries = g.get("webSearchQueries") or []
    if not isinstance(queries, list):
        raise wire.Malformed("`webSearchQueries` should be a list")
    chunks = g.get("groundingChunks") or []
    if not isinstance(chunks, list):
        raise wire.Malformed("`groundingChunks` should be a list")
    sources: list[ev.GroundingSource] = []
    for chunk in chunks:
        if not isinstance(chunk, dict):
            raise wire.Malformed("a grounding chunk should be an object")
        web = _obj(chunk, "web")
        if web:
            sources.append(
                ev.GroundingSource(
                    uri=wire.text(web, "uri"),
                    title=wire.text(web, "title"),
                    domain=wire.opt_text(web, "domain"),
                )
            )
    entry = _snaked(_obj(g, "searchEntryPoint"))
    return ev.Grounding(
        provider="gemini",
        t=t,
        raw=raw,
        queries=tuple(q for q in queries if isinstance(q, str)),
        sources=tuple(sources),
        rendered_content=wire.opt_text(entry, "renderedContent"),
        item_id=item_id,
    )


def _snaked(d: Mapping[str, Any]) -> dict[str, Any]:
    """`d` with snake_case keys respelled camelCase (the server may send either spelling)."""
    return {_camel(k) if "_" in k else k: v for k, v in d.items()}


@functools.cache
def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def _obj(d: Mapping[str, Any], camel: str) -> dict[str, Any]:
    value = _get(d, camel)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise wire.Malformed(f"`{camel}` should be an object")
    return value


def _mime_rate(mime: Any) -> int:
    """The `rate=` of an audio mime type (24 kHz when absent); an impossible rate is an error."""
    if mime is None:
        return OUTPUT_RATE
    if not isinstance(mime, str):
        raise wire.Malformed("`mimeType` should be a string")
    return _rate_of(mime)


@functools.lru_cache(maxsize=16)  # a session sees one or two mime types, every 20-40 ms
def _rate_of(mime: str) -> int:
    match = _RATE_RE.search(mime)
    if not match:
        return OUTPUT_RATE
    rate = int(match.group(1))
    if not MIN_AUDIO_RATE <= rate <= MAX_AUDIO_RATE:
        raise wire.Malformed(f"audio rate {rate} Hz is impossible")
    return rate


def _error(t: float, raw: dict[str, Any], message: str) -> ev.Error:
    return ev.Error(
        provider="gemini", t=t, raw=(raw,) if raw else (), message=message, code="malformed_frame"
    )
