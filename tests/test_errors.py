"""One root for every error the client package raises on purpose, built-in bases kept."""

from __future__ import annotations

import importlib
import inspect

import pytest

from realtimelab.errors import RealtimeLabError, RealtimeLabWarning, UnsupportedSetting

#: Modules whose exception classes must all derive from the root.
MODULES = (
    "realtimelab.auth",
    "realtimelab.config",
    "realtimelab.devices",
    "realtimelab.errors",
    "realtimelab.observe",
    "realtimelab.providers.registry",
    "realtimelab.schema",
    "realtimelab.session",
    "realtimelab.tools",
    "realtimelab.voices",
)


def _defined_here(module_name: str) -> list[type[BaseException]]:
    module = importlib.import_module(module_name)
    return [
        obj
        for name, obj in vars(module).items()
        if inspect.isclass(obj)
        and issubclass(obj, BaseException)
        and obj.__module__ == module_name
        and not name.startswith("_")
    ]


@pytest.mark.parametrize("module_name", MODULES)
def test_every_error_and_warning_has_the_common_root(module_name: str) -> None:
    for cls in _defined_here(module_name):
        root = RealtimeLabWarning if issubclass(cls, Warning) else RealtimeLabError
        assert issubclass(cls, root), cls


@pytest.mark.parametrize(
    ("name", "builtin"),
    [
        ("realtimelab.config:ConfigError", ValueError),
        ("realtimelab.voices:VoiceError", ValueError),
        ("realtimelab.schema:SchemaError", ValueError),
        ("realtimelab.providers.registry:UnknownProviderError", ValueError),
        ("realtimelab.providers.registry:ProviderAlreadyRegistered", ValueError),
        ("realtimelab.auth:AuthError", RuntimeError),
        ("realtimelab.devices:DeviceUnavailable", RuntimeError),
        ("realtimelab.session:SessionClosedError", ConnectionError),
        ("realtimelab.session:ConnectError", ConnectionError),
        ("realtimelab.session:Unreachable", ConnectionError),
        ("realtimelab.session:HandshakeRefused", ConnectionError),
        ("realtimelab.session:SessionRefused", ConnectionError),
        ("realtimelab.session:SetupTimeout", ConnectionError),
        ("realtimelab.tools:ToolError", Exception),
    ],
)
def test_existing_handlers_still_catch_them(name: str, builtin: type[BaseException]) -> None:
    module, _, attr = name.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    assert issubclass(cls, RealtimeLabError) and issubclass(cls, builtin)


def test_warnings_are_not_errors() -> None:
    assert issubclass(UnsupportedSetting, UserWarning)
    assert not issubclass(RealtimeLabWarning, RealtimeLabError)
    warning = UnsupportedSetting("Vad.x", "toy", "it is ignored", title="Toy Live")
    assert str(warning) == "Vad.x is not supported by Toy Live: it is ignored"
