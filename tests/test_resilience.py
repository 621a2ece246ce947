"""The pure parts of `realtimelab.resilience`: policy, classification, state, gap buffer."""

from __future__ import annotations

import pytest

from realtimelab.providers.base import AssistantText, ToolCallRecord, ToolResultRecord, UserText
from realtimelab.resilience import (
    AudioBuffer,
    ReconnectPolicy,
    RotationPolicy,
    classify_close,
    classify_connect_error,
    conversation_state,
)
from realtimelab.session import HandshakeRefused, SessionRefused, SetupTimeout, Unreachable


def test_delays_are_exponential_capped_jittered_and_seeded() -> None:
    policy = ReconnectPolicy(
        max_attempts=8, base_delay_s=0.5, max_delay_s=4.0, multiplier=2.0, jitter=0.2, seed=42
    )
    delays = policy.delays()
    assert len(delays) == 8 and delays[0] == 0.0  # the first retry is immediate
    for i, d in enumerate(delays[1:]):
        nominal = min(4.0, 0.5 * 2.0**i)
        assert nominal * 0.8 <= d <= min(4.0, nominal * 1.2)
    assert delays == policy.delays()  # the same seed, the same waits
    assert (
        delays
        != ReconnectPolicy(max_attempts=8, base_delay_s=0.5, max_delay_s=4.0, seed=43).delays()
    )
    exact = ReconnectPolicy(
        max_attempts=5, base_delay_s=1, max_delay_s=5, multiplier=3, jitter=0, first_delay_s=0.25
    )
    assert exact.delays() == (0.25, 1.0, 3.0, 5.0, 5.0)


@pytest.mark.parametrize(
    "bad",
    [
        {"max_attempts": 0},
        {"base_delay_s": -1},
        {"multiplier": 0.5},
        {"jitter": 1.5},
        {"max_reconnects": -1},
    ],
)
def test_policy_rejects_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ReconnectPolicy(**bad)  # type: ignore[arg-type]


def test_rotation_policy_validation() -> None:
    with pytest.raises(ValueError):
        RotationPolicy(rotate_before_s=-1)
    with pytest.raises(ValueError):
        RotationPolicy(finish_fraction=0)


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        (None, "retry"),
        (1000, "retry"),
        (1001, "retry"),
        (1005, "retry"),
        (1006, "retry"),
        (1011, "retry"),
        (1012, "retry"),
        (1013, "retry"),
        (1015, "retry"),
        (1002, "fatal"),
        (1007, "fatal"),
        (1008, "fatal"),
        (4000, "fatal"),
        (3003, "fatal"),
    ],
)
def test_close_codes(code: int | None, verdict: str) -> None:
    assert classify_close(code) == verdict


def _refused(code: int | None, error_code: str | None = None, *, fatal: bool) -> SessionRefused:
    return SessionRefused(
        "refused", code=code, reason="r", error_code=error_code, retryable=not fatal
    )


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (HandshakeRefused("x", status=401, body_summary="{...}"), ("fatal", "http_401")),
        (HandshakeRefused("x", status=403, body_summary="denied"), ("fatal", "http_403")),
        (HandshakeRefused("x", status=404, body_summary=""), ("fatal", "http_404")),
        (HandshakeRefused("x", status=503, body_summary="busy"), ("retry", "http_503")),
        (HandshakeRefused("x", status=429, body_summary="slow down"), ("retry", "http_429")),
        (_refused(1007, fatal=True), ("fatal", "1007")),
        (_refused(1011, fatal=False), ("retry", "1011")),
        (_refused(1000, "invalid_api_key", fatal=True), ("fatal", "invalid_api_key")),
        (
            _refused(4000, "beta_api_shape_disabled", fatal=True),
            ("fatal", "beta_api_shape_disabled"),
        ),
        (_refused(None, fatal=False), ("retry", "None")),
        (
            Unreachable("could not connect to openai at ws://x: [Errno 111] refused"),
            ("retry", "connect_failed"),
        ),
        (SetupTimeout("openai: no session confirmation within 15 s"), ("retry", "setup_timeout")),
        # a custom connector's plain errors: the network, not the request
        (ConnectionError("could not connect: refused"), ("retry", "connect_failed")),
        (OSError("reset"), ("retry", "connect_failed")),
    ],
)
def test_connect_errors_are_classified_by_their_attributes(
    exc: BaseException, expected: tuple[str, str]
) -> None:
    assert classify_connect_error(exc) == expected


def test_classification_does_not_read_the_message() -> None:
    """A message that *looks* like a 401 does not make a retryable error fatal."""
    tricky = SessionRefused(
        "openai refused the connection: HTTP 401 (code 1007)",
        code=1011,
        reason="HTTP 401",
        error_code=None,
        retryable=True,
    )
    assert classify_connect_error(tricky) == ("retry", "1011")
    assert classify_connect_error(ConnectionError("HTTP 401 refused the session (code 1007)")) == (
        "retry",
        "connect_failed",
    )


def test_config_errors_are_fatal() -> None:
    assert classify_connect_error(ValueError("bad config"))[0] == "fatal"


def test_conversation_state() -> None:
    user, reply = UserText("hi"), AssistantText("hello")
    call, result = ToolCallRecord("c1", "f", "{}"), ToolResultRecord("c1", "f", "1")
    assert conversation_state(()) == "idle"
    assert conversation_state((user,)) == "awaiting_reply"
    assert conversation_state((user, reply)) == "idle"
    assert conversation_state((user, call)) == "awaiting_tool"
    assert conversation_state((user, call, ToolCallRecord("c2", "f", "{}"), result)) == (
        "awaiting_tool"
    )
    assert conversation_state((user, call, result)) == "awaiting_reply"
    assert conversation_state((user, call, result, reply)) == "idle"


def test_audio_buffer_keeps_the_newest_within_its_bound() -> None:
    buffer = AudioBuffer(rate=1000, max_ms=10)  # 10 samples = 20 bytes
    assert buffer.max_bytes == 20
    for i in range(4):
        buffer.push(bytes([i]) * 8)  # 4 ms each
    assert len(buffer) == 20 and buffer.buffered_ms == 10
    assert buffer.dropped_ms == pytest.approx(6)
    chunks, dropped = buffer.take()
    assert b"".join(chunks) == bytes([1]) * 4 + bytes([2]) * 8 + bytes([3]) * 8
    assert dropped == pytest.approx(6)
    assert len(buffer) == 0 and buffer.take() == ([], 0)


def test_audio_buffer_with_no_room_drops_everything_it_is_given() -> None:
    buffer = AudioBuffer(rate=16000, max_ms=0)
    buffer.push(b"\x01\x00" * 160)
    assert len(buffer) == 0 and buffer.dropped_ms == pytest.approx(10)
    with pytest.raises(ValueError):
        AudioBuffer(rate=16000, max_ms=-1)
