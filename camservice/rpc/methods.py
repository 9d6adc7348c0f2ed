"""The method table: each method's handler, least role, params schema,
version, deprecation and audit, declared once."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional

from camservice.auth.roles import Role
from camservice.rpc.param_limits import top_level_limits
from camservice.schema import compile_schema

__all__ = ["Deprecation", "MethodSpec", "MethodTable", "object_schema"]


@dataclass(frozen=True)
class Deprecation:
    """A method on its way out; reported in ``metadata.deprecation``.

    :ivar since: the API version that deprecated it.
    :ivar replacement: the method to call instead, if any.
    :ivar sunset: ISO 8601 date after which it may be removed.
    """

    since: str
    replacement: Optional[str] = None
    sunset: Optional[str] = None

    def to_json(self) -> dict:
        return {
            "deprecated_since": self.since,
            "replacement": self.replacement,
            "sunset": self.sunset,
        }


def object_schema(
    properties: Optional[Mapping[str, dict]] = None, required: Iterable[str] = ()
) -> dict:
    """A params schema: an object of named params, unknown ones rejected."""
    return {
        "type": "object",
        "properties": dict(properties or {}),
        "required": list(required),
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class MethodSpec:
    """One method of the API.

    :ivar handler: ``handler(call, params)`` returning the result, a
        Deferred firing with it, or a coroutine (``async def``); raises or
        fails with domain errors.
    :ivar role: least role, or ``None`` for methods open to anyone.
    :ivar params: JSON Schema of the params object.
    :ivar version: API version that introduced the method.
    :ivar camera_param: the param naming a camera, checked against the
        caller's camera allow list.
    :ivar example: valid params, for documentation and generated tests.
    :ivar audit: ``None`` for a method that changes nothing; for one that
        changes state, the params recorded in its audit event (URLs
        redacted). The dispatcher writes that event for every call.
    """

    name: str
    handler: Callable[..., Any]
    role: Optional[Role]
    params: dict = field(default_factory=object_schema)
    version: str = "1.0"
    deprecation: Optional[Deprecation] = None
    camera_param: Optional[str] = None
    summary: str = ""
    example: Mapping[str, Any] = field(default_factory=dict)
    audit: Optional[tuple[str, ...]] = None
    validator: Any = field(init=False, repr=False, compare=False)
    limits: tuple = field(init=False, repr=False, compare=False)
    takes_params: bool = field(init=False, repr=False, compare=False)

    def accepts(self, param: str) -> bool:
        """Whether ``param`` is one of this method's own params."""
        return param in self.params.get("properties", {})

    def __post_init__(self) -> None:
        # patterns match whole strings ("camera1\n" is not a camera id)
        object.__setattr__(self, "validator", compile_schema(self.params))
        object.__setattr__(self, "limits", top_level_limits(self.params))
        # A method whose params are all optional accepts {} without
        # running the validator (the common, hot case).
        object.__setattr__(self, "takes_params", bool(self.params.get("required")))


class MethodTable:
    """The registered methods by name."""

    def __init__(self, specs: Iterable[MethodSpec] = ()):
        self._specs: dict[str, MethodSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: MethodSpec) -> None:
        """Add a method.

        :raises ValueError: a method of that name is already registered.
        """
        if spec.name in self._specs:
            raise ValueError(f"method {spec.name!r} registered twice")
        self._specs[spec.name] = spec

    def register_group(self, group) -> None:
        """Add every method of ``group`` (an object with ``specs()``)."""
        for spec in group.specs():
            self.register(spec)

    def get(self, name: str) -> Optional[MethodSpec]:
        return self._specs.get(name)

    def __iter__(self):
        return iter(sorted(self._specs.values(), key=lambda s: s.name))

    def __contains__(self, name: str) -> bool:
        return name in self._specs

    def __len__(self) -> int:
        return len(self._specs)
