"""Gemini Live's frames, sans-IO: client frames in → typed inputs; server messages built out.

Why a layer of its own: every rule of the *wire* (setup first, one member per message, both key
spellings, both base64 alphabets, rate-checked audio, tool-call bookkeeping) can be unit-tested
by feeding dicts, and `protocol.LiveProtocol` — which *decides* what the server does — reads
typed inputs instead of JSON.

The state machine here is the connection's `Phase`: AWAIT_SETUP → SETTING_UP (setup parsed,
waiting for the protocol to check the resumption handle and token) → ACTIVE → CLOSED. Anything
but `setup` first, or a second `setup`, closes with 1007; after CLOSED every input is ignored.
`pending` keeps the tool calls the model is waiting on (blocking or not), which is what a
`toolResponse` is checked against.

Inputs are frozen dataclasses; a `Close` input means "close the socket with this code/reason".

Client frames are parsed as Google's parser would (`wire.load_json`: no `NaN`, at most 100
levels deep), so hostile input always ends in a 1007 close, never in an exception.

Pictures (`realtimeInput.video` frames, `inlineData` images in `clientContent`) are described
by the emulator's shared eyes (`realtimelab.emulator.vision`: size and dominant colour) and
travel as `ImageInput`s; a `video/*` blob keeps its mime type and no size.

Server messages are built here one field at a time, plus the bundled shapes 3.x models send
(an audio chunk with its `outputTranscription`; the last transcription with
`generationComplete`): the protocol decides which to use.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from realtimelab.emulator import vision
from realtimelab.emulator.dialects.gemini import wire
from realtimelab.emulator.dialects.gemini.setup import (
    GeminiSetup,
    SetupRejected,
    apply_constraints,
    parse_setup,
)
from realtimelab.emulator.grounding import Grounding
from realtimelab.emulator.model import (
    AssistantMessage,
    FunctionCall,
    FunctionResult,
    ImageInput,
    Item,
    ToolSpec,
    UserMessage,
)

__all__ = [
    "ActivityEnd",
    "ActivityStart",
    "AudioIn",
    "AudioStreamEnd",
    "Close",
    "ContextUpdate",
    "GeminiFrames",
    "PendingCall",
    "Phase",
    "SetupReceived",
    "TextIn",
    "ToolResponse",
    "ToolResponses",
    "TurnsIn",
    "UsageCounts",
    "VideoIn",
]

# --- inputs (what the client asked for) -----------------------------------------------------


@dataclass(frozen=True)
class SetupReceived:
    setup: GeminiSetup


@dataclass(frozen=True)
class AudioIn:
    pcm: bytes
    rate: int


@dataclass(frozen=True)
class VideoIn:
    """One `realtimeInput.video` blob: a picture (image/*) or a chunk of video (video/*)."""

    image: ImageInput


@dataclass(frozen=True)
class TextIn:
    text: str


@dataclass(frozen=True)
class ActivityStart:
    pass


@dataclass(frozen=True)
class ActivityEnd:
    pass


@dataclass(frozen=True)
class AudioStreamEnd:
    pass


@dataclass(frozen=True)
class TurnsIn:
    """`clientContent`: history to append in order; `turn_complete` asks for a reply."""

    items: tuple[Item, ...]
    turn_complete: bool


@dataclass(frozen=True)
class ToolResponse:
    call_id: str
    name: str
    output: str  # the `response` object as JSON text
    scheduling: str  # SILENT | WHEN_IDLE | INTERRUPT (only meaningful for NON_BLOCKING calls)
    will_continue: bool
    non_blocking: bool  # from the pending call's declaration
    known: bool  # False: no such call is pending (late answer to a cancelled call)


@dataclass(frozen=True)
class ToolResponses:
    responses: tuple[ToolResponse, ...]


@dataclass(frozen=True)
class ContextUpdate:
    instructions: str | None
    tools: tuple[ToolSpec, ...] | None
    google_search: bool | None = None  # None: the tools were not updated


@dataclass(frozen=True)
class Close:
    code: int
    reason: str
    detail: str = ""


Input = (
    SetupReceived
    | AudioIn
    | VideoIn
    | TextIn
    | ActivityStart
    | ActivityEnd
    | AudioStreamEnd
    | TurnsIn
    | ToolResponses
    | ContextUpdate
    | Close
)


@dataclass(frozen=True)
class UsageCounts:
    """Token counts for `usageMetadata`, split by modality (see `protocol.LiveProtocol._usage`)."""

    prompt_text: int = 0
    prompt_audio: int = 0
    prompt_image: int = 0
    prompt_video: int = 0
    response_text: int = 0
    response_audio: int = 0
    thoughts: int = 0
    tool_use_prompt: int = 0  # what a built-in tool (search) added to the prompt


class Phase(enum.Enum):
    AWAIT_SETUP = "await_setup"
    SETTING_UP = "setting_up"
    ACTIVE = "active"
    CLOSED = "closed"


@dataclass(frozen=True)
class PendingCall:
    call_id: str
    name: str
    non_blocking: bool


_CLIENT_MEMBERS = ("setup", "clientContent", "realtimeInput", "toolResponse", "contextUpdate")
_REALTIME_MEMBERS = (
    "audio",
    "video",
    "text",
    "activityStart",
    "activityEnd",
    "audioStreamEnd",
    "mediaChunks",
)
_SCHEDULING = frozenset({"SCHEDULING_UNSPECIFIED", "SILENT", "WHEN_IDLE", "INTERRUPT"})


def _close_invalid(detail: str) -> Close:
    return Close(1007, wire.INVALID_ARGUMENT, detail)


@dataclass
class GeminiFrames:
    """One connection's wire state. Mutable on purpose: it *is* the phase machine.

    `receive(frame)` returns typed inputs; the `*_frame` methods build the server messages
    (dicts with camelCase keys); `encode` serialises a message the way Google does (compact
    UTF-8 JSON, sent as a binary frame). `today` is the day model shutdowns are judged by.
    """

    api_version: str = "v1beta"
    token_setup: Mapping[str, Any] | None = None
    token_field_mask: Sequence[str] | None = None
    today: dt.date | None = None
    phase: Phase = Phase.AWAIT_SETUP
    setup: GeminiSetup | None = None
    client_index: int = -1  # index of the last client message received (setup = 0)
    pending: dict[str, PendingCall] = field(default_factory=dict)

    # -- frames in ---------------------------------------------------------------------------
    def receive(self, frame: str | bytes) -> list[Input]:
        """Parse one client frame (text or binary JSON) into inputs, or a `Close`."""
        if self.phase is Phase.CLOSED:
            return []
        try:
            text = frame.decode("utf-8") if isinstance(frame, bytes) else frame
            raw = wire.load_json(text)
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            return self._closing(_close_invalid(f"frame is not JSON: {exc}"[:200]))
        if not isinstance(raw, dict):
            return self._closing(_close_invalid("frame is not a JSON object"))
        msg = wire.camelize(raw)
        unknown = sorted(set(msg) - set(_CLIENT_MEMBERS))
        present = [k for k in _CLIENT_MEMBERS if msg.get(k) is not None]
        if unknown or len(present) != 1:
            return self._closing(
                _close_invalid(f"expected exactly one of {_CLIENT_MEMBERS}, got {sorted(msg)}")
            )
        member = present[0]
        self.client_index += 1
        if self.phase is Phase.AWAIT_SETUP:
            if member != "setup":
                return self._closing(_close_invalid(f"{member} before setup"))
            return self._on_setup(msg["setup"])
        if member == "setup":
            return self._closing(_close_invalid("setup sent twice"))
        if self.phase is Phase.SETTING_UP:
            # The client should wait for setupComplete; queueing would hide that mistake.
            return self._closing(_close_invalid(f"{member} before setupComplete"))
        body = msg[member]
        if not isinstance(body, Mapping):
            return self._closing(_close_invalid(f"{member} must be an object"))
        handler = {
            "clientContent": self._on_client_content,
            "realtimeInput": self._on_realtime_input,
            "toolResponse": self._on_tool_response,
            "contextUpdate": self._on_context_update,
        }[member]
        try:
            return handler(body)
        except _Invalid as exc:
            return self._closing(_close_invalid(str(exc)))

    def _closing(self, close: Close) -> list[Input]:
        self.phase = Phase.CLOSED
        return [close]

    def _on_setup(self, body: Any) -> list[Input]:
        if not isinstance(body, Mapping):
            return self._closing(_close_invalid("setup must be an object"))
        try:
            merged = apply_constraints(body, self.token_setup, self.token_field_mask)
            setup = parse_setup(merged, api_version=self.api_version, today=self.today)
        except SetupRejected as exc:
            return self._closing(Close(exc.code, exc.reason, exc.detail))
        self.setup = setup
        self.phase = Phase.SETTING_UP
        return [SetupReceived(setup)]

    def accept_setup(self) -> dict[str, Any]:
        """Handle and token were checked: the session starts; returns `setupComplete`."""
        if self.phase is not Phase.SETTING_UP:
            raise RuntimeError(f"accept_setup in phase {self.phase}")
        self.phase = Phase.ACTIVE
        return {"setupComplete": {}}

    def close(self) -> None:
        self.phase = Phase.CLOSED

    def _on_realtime_input(self, body: Mapping[str, Any]) -> list[Input]:
        present = [k for k in _REALTIME_MEMBERS if body.get(k) is not None]
        unknown = sorted(set(body) - set(_REALTIME_MEMBERS))
        if unknown or len(present) != 1:
            raise _Invalid(f"realtimeInput must carry exactly one member, got {sorted(body)}")
        kind = present[0]
        value = body[kind]
        assert self.setup is not None
        manual = self.setup.vad.disabled
        if kind in ("audio", "mediaChunks", "video"):
            blob = value
            if kind == "mediaChunks":  # deprecated: only the first chunk counts
                if not isinstance(value, list) or not value:
                    raise _Invalid("mediaChunks must be a non-empty list")
                blob = value[0]
            if not isinstance(blob, Mapping):
                raise _Invalid(f"{kind} must be a Blob object")
            mime = blob.get("mimeType")
            if not isinstance(mime, str):
                raise _Invalid(f"{kind}.mimeType is required")
            try:
                data = wire.b64decode_any(blob.get("data") or "")
            except ValueError as exc:
                raise _Invalid(str(exc)) from exc
            if mime.lower().startswith("image/") or mime.lower().startswith("video/"):
                return [VideoIn(_describe(data, mime.lower()))]
            if kind == "video":
                raise _Invalid("video must be an image/* or video/* blob")
            try:
                rate = wire.pcm_rate(mime)
            except ValueError as exc:
                raise _Invalid(str(exc)) from exc
            if len(data) % 2:
                raise _Invalid("PCM16 audio must have an even number of bytes")
            return [AudioIn(data, rate)]
        if kind == "text":
            if not isinstance(value, str):
                raise _Invalid("realtimeInput.text must be a string")
            return [TextIn(value)]
        if kind in ("activityStart", "activityEnd"):
            if not manual:
                raise _Invalid(f"{kind} requires automaticActivityDetection.disabled")
            return [ActivityStart() if kind == "activityStart" else ActivityEnd()]
        # audioStreamEnd: meaningful only with automatic activity detection; a no-op otherwise.
        if value is not True:
            raise _Invalid("audioStreamEnd must be true")
        return [] if manual else [AudioStreamEnd()]

    def _on_client_content(self, body: Mapping[str, Any]) -> list[Input]:
        turns = body.get("turns") or []
        if not isinstance(turns, list):
            raise _Invalid("clientContent.turns must be a list")
        items: list[Item] = []
        for turn in turns:
            if not isinstance(turn, Mapping):
                raise _Invalid("clientContent.turns[] must be Content objects")
            items.extend(_content_items(turn))
        complete = body.get("turnComplete", False)
        if not isinstance(complete, bool):
            raise _Invalid("turnComplete must be a boolean")
        return [TurnsIn(tuple(items), complete)]

    def _on_tool_response(self, body: Mapping[str, Any]) -> list[Input]:
        raw = body.get("functionResponses") or []
        if not isinstance(raw, list) or not raw:
            raise _Invalid("toolResponse.functionResponses must be a non-empty list")
        out: list[ToolResponse] = []
        for item in raw:
            if not isinstance(item, Mapping):
                raise _Invalid("functionResponses[] must be objects")
            call_id = item.get("id")
            if not isinstance(call_id, str) or not call_id:
                # The SDK refuses to send this; Google's docs say id is required. We close.
                raise _Invalid("functionResponses[].id is required on the Gemini API")
            response = item.get("response", {})
            if not isinstance(response, Mapping):
                raise _Invalid("functionResponses[].response must be an object")
            scheduling = item.get("scheduling") or "WHEN_IDLE"
            if not isinstance(scheduling, str) or scheduling.upper() not in _SCHEDULING:
                raise _Invalid(f"invalid scheduling {scheduling!r}")
            scheduling = scheduling.upper()
            if scheduling == "SCHEDULING_UNSPECIFIED":
                scheduling = "WHEN_IDLE"
            will_continue = item.get("willContinue", False)
            if not isinstance(will_continue, bool):
                raise _Invalid("willContinue must be a boolean")
            pending = self.pending.get(call_id)
            non_blocking = pending.non_blocking if pending else False
            name = item.get("name") or (pending.name if pending else "")
            if pending is not None and not (non_blocking and will_continue):
                del self.pending[call_id]
            out.append(
                ToolResponse(
                    call_id=call_id,
                    name=str(name),
                    output=tool_output_text(response),
                    scheduling=scheduling,
                    will_continue=will_continue and non_blocking,
                    non_blocking=non_blocking,
                    known=pending is not None,
                )
            )
        return [ToolResponses(tuple(out))]

    def _on_context_update(self, body: Mapping[str, Any]) -> list[Input]:
        assert self.setup is not None
        if not self.setup.context_updates:
            return self._closing(Close(1008, wire.NOT_IMPLEMENTED, "contextUpdate"))
        probe_setup: dict[str, Any] = {"model": self.setup.model_path}
        if body.get("systemInstruction") is not None:
            probe_setup["systemInstruction"] = body["systemInstruction"]
        if body.get("tools") is not None:
            tools_obj = body["tools"]
            tool_list = tools_obj.get("tools", []) if isinstance(tools_obj, Mapping) else tools_obj
            probe_setup["tools"] = tool_list
        try:
            probe = parse_setup(probe_setup, api_version=self.api_version, today=self.today)
        except SetupRejected as exc:
            raise _Invalid(exc.detail) from exc
        return [
            ContextUpdate(
                probe.instructions if "systemInstruction" in probe_setup else None,
                probe.tools if "tools" in probe_setup else None,
                probe.google_search if "tools" in probe_setup else None,
            )
        ]

    # -- state queries -------------------------------------------------------------------------
    @property
    def blocking_pending(self) -> list[str]:
        return [c.call_id for c in self.pending.values() if not c.non_blocking]

    # -- frames out ----------------------------------------------------------------------------
    def audio_frame(self, pcm: bytes, transcript: str = "") -> dict[str, Any]:
        """An audio chunk; with `transcript`, the words it speaks ride along (3.x bundling)."""
        part = {"inlineData": {"mimeType": wire.OUTPUT_MIME, "data": wire.b64encode_std(pcm)}}
        content: dict[str, Any] = {"modelTurn": {"role": "model", "parts": [part]}}
        if transcript:
            content["outputTranscription"] = {"text": transcript}
        return {"serverContent": content}

    def text_frame(self, text: str) -> dict[str, Any]:
        return {"serverContent": {"modelTurn": {"role": "model", "parts": [{"text": text}]}}}

    def input_transcription_frame(self, text: str) -> dict[str, Any]:
        return {"serverContent": {"inputTranscription": {"text": text}}}

    def input_transcription_frames(self, text: str, *, partials: bool) -> list[dict[str, Any]]:
        """What the user said: one final piece, or (2.5 models) partials of two words each.

        Partials concatenate to the text, each after the first carrying its leading space, as
        recorded 2.5 traces show ("what's the", " weather").
        """
        if not partials:
            return [self.input_transcription_frame(text)]
        words = text.split()
        pieces = [" ".join(words[i : i + 2]) for i in range(0, len(words), 2)]
        return [
            self.input_transcription_frame(piece if i == 0 else " " + piece)
            for i, piece in enumerate(pieces)
        ] or [self.input_transcription_frame(text)]

    def output_transcription_frame(self, text: str) -> dict[str, Any]:
        return {"serverContent": {"outputTranscription": {"text": text}}}

    def generation_complete_frame(
        self, transcript: str = "", grounding: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """`generationComplete`; on 3.x the turn's last words and its `groundingMetadata` may
        ride along in the same `serverContent`."""
        content: dict[str, Any] = {}
        if transcript:
            content["outputTranscription"] = {"text": transcript}
        if grounding is not None:
            content["groundingMetadata"] = dict(grounding)
        content["generationComplete"] = True
        return {"serverContent": content}

    def interrupted_frame(self) -> dict[str, Any]:
        return {"serverContent": {"interrupted": True}}

    def turn_complete_frame(self, usage: UsageCounts | None) -> dict[str, Any]:
        """Closes the model turn; usage rides along (it sits outside the oneof)."""
        msg: dict[str, Any] = {"serverContent": {"turnComplete": True}}
        if usage is not None:
            msg["usageMetadata"] = usage_metadata(usage, self.modality_name)
        return msg

    def tool_call_frame(
        self, calls: Sequence[FunctionCall], tools: Sequence[ToolSpec] | None = None
    ) -> dict[str, Any]:
        """Announce calls and remember them as pending (with their declared behaviour)."""
        assert self.setup is not None
        specs = {t.name: t for t in (self.setup.tools if tools is None else tools)}
        for call in calls:
            spec = specs.get(call.name)
            non_blocking = spec is not None and spec.behavior == "non_blocking"
            self.pending[call.call_id] = PendingCall(call.call_id, call.name, non_blocking)
        return {
            "toolCall": {
                "functionCalls": [
                    {"id": c.call_id, "name": c.name, "args": dict(c.arguments)} for c in calls
                ]
            }
        }

    def cancel_blocking_calls(self) -> dict[str, Any] | None:
        """`toolCallCancellation` for the blocking calls a barge-in abandons (None if none)."""
        ids = self.blocking_pending
        if not ids:
            return None
        for call_id in ids:
            del self.pending[call_id]
        return {"toolCallCancellation": {"ids": ids}}

    def go_away_frame(self, time_left_s: float) -> dict[str, Any]:
        return {"goAway": {"timeLeft": wire.duration_json(max(0.0, time_left_s))}}

    def resumption_frame(self, handle: str | None) -> dict[str, Any]:
        """`sessionResumptionUpdate`: a handle when resumable, else `resumable: false`."""
        assert self.setup is not None
        body: dict[str, Any]
        if handle is None:
            body = {"newHandle": "", "resumable": False}
        else:
            body = {"newHandle": handle, "resumable": True}
        # No `lastConsumedClientMessageIndex`: it answers `transparent`, which the Gemini
        # Developer API does not take (setup refuses it).
        return {"sessionResumptionUpdate": body}

    @property
    def modality_name(self) -> str:
        return "TEXT" if self.setup is not None and self.setup.modality == "text" else "AUDIO"

    @staticmethod
    def encode(message: Mapping[str, Any]) -> bytes:
        """Compact UTF-8 JSON; the shell sends it as a *binary* frame, like Google."""
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _describe(data: bytes, mime: str) -> ImageInput:
    """`vision.describe_image`, and never an exception: a picture that breaks the decoder is
    still a picture (with no size), not a reason to drop the connection."""
    try:
        return vision.describe_image(data, mime)
    except Exception:
        return ImageInput(mime or "application/octet-stream", len(data))


class _Invalid(Exception):
    """Internal: the message is malformed → close 1007 with the standard reason."""


def usage_metadata(usage: UsageCounts, response_modality: str) -> dict[str, Any]:
    """`usageMetadata`: totals plus per-modality details, as the Gemini API reports them.

    `totalTokenCount` adds prompt, response, thoughts and tool-use prompt tokens (the
    generateContent convention); `thoughtsTokenCount` and `toolUsePromptTokenCount` appear only
    when non-zero.
    """
    prompt_parts = (
        ("TEXT", usage.prompt_text),
        ("IMAGE", usage.prompt_image),
        ("VIDEO", usage.prompt_video),
        ("AUDIO", usage.prompt_audio),
    )
    prompt = sum(n for _, n in prompt_parts)
    response = usage.response_text + usage.response_audio
    prompt_details = [{"modality": m, "tokenCount": n} for m, n in prompt_parts if n]
    response_details = [
        {"modality": m, "tokenCount": n}
        for m, n in (("TEXT", usage.response_text), ("AUDIO", usage.response_audio))
        if n
    ] or [{"modality": response_modality, "tokenCount": 0}]
    out: dict[str, Any] = {
        "promptTokenCount": prompt,
        "responseTokenCount": response,
        "totalTokenCount": prompt + response + usage.thoughts + usage.tool_use_prompt,
        "promptTokensDetails": prompt_details,
        "responseTokensDetails": response_details,
    }
    if usage.thoughts:
        out["thoughtsTokenCount"] = usage.thoughts
    if usage.tool_use_prompt:
        out["toolUsePromptTokenCount"] = usage.tool_use_prompt
        out["toolUsePromptTokensDetails"] = [
            {"modality": "TEXT", "tokenCount": usage.tool_use_prompt}
        ]
    return out


def _content_items(content: Mapping[str, Any]) -> list[Item]:
    """A `Content` (role + parts) → neutral history items, in part order."""
    role = content.get("role") or "user"
    if role not in ("user", "model"):
        raise _Invalid(f"invalid content role {role!r}")
    parts = content.get("parts") or []
    if not isinstance(parts, list):
        raise _Invalid("content.parts must be a list")
    items: list[Item] = []
    texts: list[str] = []
    images: list[ImageInput] = []

    def flush() -> None:
        if texts or images:
            text = "".join(texts)
            if role == "user":
                items.append(UserMessage(text, images=tuple(images)))
            elif text:
                items.append(AssistantMessage(text))
            texts.clear()
            images.clear()

    for part in parts:
        if not isinstance(part, Mapping):
            raise _Invalid("parts[] must be objects")
        if isinstance(part.get("text"), str):
            if part.get("thought"):
                continue
            texts.append(part["text"])
        elif isinstance(part.get("functionCall"), Mapping):
            flush()
            fc = part["functionCall"]
            args = fc.get("args") or {}
            if not isinstance(args, Mapping):
                raise _Invalid("functionCall.args must be an object")
            items.append(FunctionCall(str(fc.get("id") or ""), str(fc.get("name") or ""), args))
        elif isinstance(part.get("functionResponse"), Mapping):
            flush()
            fr = part["functionResponse"]
            items.append(
                FunctionResult(
                    str(fr.get("id") or ""),
                    str(fr.get("name") or ""),
                    tool_output_text(fr.get("response") or {}),
                )
            )
        elif isinstance(part.get("inlineData"), Mapping):
            blob = part["inlineData"]
            try:
                data = wire.b64decode_any(blob.get("data") or "")
            except ValueError as exc:
                raise _Invalid(str(exc)) from exc
            mime = blob.get("mimeType")
            if mime is not None and not isinstance(mime, str):
                raise _Invalid("inlineData.mimeType must be a string")
            mime_type = (mime or "").lower()
            if role == "user" and mime_type.startswith("image/"):
                images.append(_describe(data, mime_type))
            # Other media in history is accepted but not heard: the ears need a live turn.
    flush()
    return items


def tool_output_text(response: Any) -> str:
    """A `FunctionResponse.response` as the text the brain reads.

    Gemini's convention: the result goes under `output` and a failure under `error`; any other
    object is the output as a whole. Unwrapping `output` lets the brain see a placeholder
    (`{"status": "pending"}`) or the values themselves rather than an envelope.
    """
    if isinstance(response, Mapping) and set(response) == {"output"}:
        inner = response["output"]
        return inner if isinstance(inner, str) else json.dumps(inner, separators=(",", ":"))
    return json.dumps(response, separators=(",", ":"))


def grounding_metadata(grounding: Grounding, answer: str) -> dict[str, Any]:
    """`groundingMetadata` for an answer found by search, shaped as the Gemini API shapes it.

    `segment` offsets are UTF-8 byte offsets into the answer (as in generateContent); every
    source supports the whole answer. `searchEntryPoint.renderedContent` is the HTML chip
    Google asks apps to display; the emulator's says where the results came from.
    """
    text = answer.strip()
    chunks = [
        {"web": {"uri": src.uri, "title": src.title, "domain": src.domain}}
        for src in grounding.sources
    ]
    chip = (
        '<div class="rtl-search-chip">Results from the realtimelab emulator corpus '
        f"(offline): {grounding.query}</div>"
    )
    return {
        "webSearchQueries": [grounding.query],
        "searchEntryPoint": {"renderedContent": chip},
        "groundingChunks": chunks,
        "groundingSupports": [
            {
                "segment": {
                    "startIndex": 0,
                    "endIndex": len(text.encode("utf-8")),
                    "text": text,
                },
                "groundingChunkIndices": list(range(len(chunks))),
            }
        ],
    }
