"""realtimelab: learn, compare and test realtime voice APIs.

One `RealtimeSession` over OpenAI Realtime and Gemini Live, audio utilities, tool dispatch,
resilience, observability, and a local emulator that speaks both wire protocols.

    from realtimelab import connect, SessionConfig, TurnComplete

The names below are imported on first use (PEP 562), so `import realtimelab` stays cheap: no
websockets, numpy or emulator is loaded until something needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The event vocabulary's own list (events.py is plain dataclasses, cheap to import).
from realtimelab.events import __all__ as _EVENTS

__version__ = "0.1.0"

#: public name -> module that defines it
_LAZY: dict[str, str] = {
    **dict.fromkeys(_EVENTS, "realtimelab.events"),
    "connect": "realtimelab.session",
    "RealtimeSession": "realtimelab.session",
    "SessionClosedError": "realtimelab.session",
    "ConnectError": "realtimelab.session",
    "HandshakeRefused": "realtimelab.session",
    "SessionRefused": "realtimelab.session",
    "SetupTimeout": "realtimelab.session",
    "Unreachable": "realtimelab.session",
    "SessionConfig": "realtimelab.config",
    "Vad": "realtimelab.config",
    "ConfigError": "realtimelab.config",
    "Tool": "realtimelab.schema",
    "tool": "realtimelab.schema",
    "Capabilities": "realtimelab.providers.base",
    "ToolResult": "realtimelab.providers.base",
    "UserText": "realtimelab.providers.base",
    "UserImage": "realtimelab.providers.base",
    "AssistantText": "realtimelab.providers.base",
    "ToolCallRecord": "realtimelab.providers.base",
    "ToolResultRecord": "realtimelab.providers.base",
    "Secret": "realtimelab.auth",
    "EphemeralToken": "realtimelab.auth",
    "mint_token": "realtimelab.auth",
    "RealtimeLabError": "realtimelab.errors",
    "UnsupportedSetting": "realtimelab.errors",
    "SampleRateError": "realtimelab.audio",
    "Emulator": "realtimelab.emulator.server",
    "EmulatorConfig": "realtimelab.emulator.server",
    "EmulatorThread": "realtimelab.emulator.server",
    "ToolRegistry": "realtimelab.tools",
    "ToolDispatcher": "realtimelab.tools",
    "acknowledgement_instructions": "realtimelab.tools",
    "ResilientSession": "realtimelab.resilience",
    "ReconnectPolicy": "realtimelab.resilience",
    "RotationPolicy": "realtimelab.resilience",
    "ConversationStore": "realtimelab.store",
    "EventLog": "realtimelab.observe",
    "turn_metrics": "realtimelab.metrics",
    "Router": "realtimelab.router",
}

__all__ = [
    "AssistantText",
    "AudioChunk",
    "Capabilities",
    "Closed",
    "ConfigError",
    "ConnectError",
    "ConversationStore",
    "Emulator",
    "EmulatorConfig",
    "EmulatorThread",
    "EphemeralToken",
    "Error",
    "Event",
    "EventLog",
    "Grounding",
    "GroundingSource",
    "HandshakeRefused",
    "InputCleared",
    "InputCommitted",
    "InputDropped",
    "InputTranscript",
    "Interrupted",
    "ItemAdded",
    "ItemDeleted",
    "ItemRetrieved",
    "McpListTools",
    "OutOfBandResponse",
    "OutputTranscript",
    "RateLimits",
    "RealtimeLabError",
    "RealtimeSession",
    "ReconnectPolicy",
    "Reconnected",
    "ResilientSession",
    "ResponseStarted",
    "ResumptionUpdate",
    "RotationPolicy",
    "Router",
    "SampleRateError",
    "Secret",
    "SessionClosedError",
    "SessionConfig",
    "SessionExpiring",
    "SessionRefused",
    "SessionStarted",
    "SessionUpdated",
    "SetupTimeout",
    "SpeechStarted",
    "SpeechStopped",
    "TextDelta",
    "Tool",
    "ToolCall",
    "ToolCallCancelled",
    "ToolCallRecord",
    "ToolDispatcher",
    "ToolRegistry",
    "ToolResult",
    "ToolResultRecord",
    "TurnComplete",
    "Unreachable",
    "UnsupportedSetting",
    "Usage",
    "UserImage",
    "UserText",
    "Vad",
    "__version__",
    "acknowledgement_instructions",
    "connect",
    "mint_token",
    "tool",
    "turn_metrics",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'realtimelab' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: the next lookup does not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from realtimelab.audio import SampleRateError
    from realtimelab.auth import EphemeralToken, Secret, mint_token
    from realtimelab.config import ConfigError, SessionConfig, Vad
    from realtimelab.emulator.server import Emulator, EmulatorConfig, EmulatorThread
    from realtimelab.errors import RealtimeLabError, UnsupportedSetting
    from realtimelab.events import (
        AudioChunk,
        Closed,
        Error,
        Event,
        Grounding,
        GroundingSource,
        InputCleared,
        InputCommitted,
        InputDropped,
        InputTranscript,
        Interrupted,
        ItemAdded,
        ItemDeleted,
        ItemRetrieved,
        McpListTools,
        OutOfBandResponse,
        OutputTranscript,
        RateLimits,
        Reconnected,
        ResponseStarted,
        ResumptionUpdate,
        SessionExpiring,
        SessionStarted,
        SessionUpdated,
        SpeechStarted,
        SpeechStopped,
        TextDelta,
        ToolCall,
        ToolCallCancelled,
        TurnComplete,
        Usage,
    )
    from realtimelab.metrics import turn_metrics
    from realtimelab.observe import EventLog
    from realtimelab.providers.base import (
        AssistantText,
        Capabilities,
        ToolCallRecord,
        ToolResult,
        ToolResultRecord,
        UserImage,
        UserText,
    )
    from realtimelab.resilience import ReconnectPolicy, ResilientSession, RotationPolicy
    from realtimelab.router import Router
    from realtimelab.schema import Tool, tool
    from realtimelab.session import (
        ConnectError,
        HandshakeRefused,
        RealtimeSession,
        SessionClosedError,
        SessionRefused,
        SetupTimeout,
        Unreachable,
        connect,
    )
    from realtimelab.store import ConversationStore
    from realtimelab.tools import ToolDispatcher, ToolRegistry, acknowledgement_instructions
