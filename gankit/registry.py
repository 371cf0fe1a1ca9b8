"""Named registries: how models, data targets and objectives become choosable by name in a config."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered thing, its one-line description, the dataclass of its settings (if any) and
    what else it declares to the config (a model: the names of its players).

    `source` is the thing itself, or where it lives as "module:name": declared that way, an entry
    is known to config validation without importing its (heavy) module until `item` is used."""

    name: str
    source: T | str
    description: str
    params: type | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def item(self) -> T:
        """The registered thing, its module imported on first use when it was declared by name."""
        if not isinstance(self.source, str):
            return self.source
        module, _, name = self.source.partition(":")
        return getattr(importlib.import_module(module), name)


class Registry(Generic[T]):
    """A name → entry table whose lookup error lists what is allowed."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, description: str, params: type | None = None, **meta: Any) -> Callable[[T], T]:
        """Decorator: register `item` under `name` with a description, an optional params
        dataclass and any declarations the config reads from `meta`."""

        def add(item: T) -> T:
            self._add(Entry(name, item, description, params, dict(meta)))
            return item

        return add

    def declare(self, name: str, description: str, params: type | None = None, *, item: str, **meta: Any) -> None:
        """Register what lives at `item` ("package.module:name") without importing it: config
        validation reads the name, description and params; building imports the module."""
        self._add(Entry(name, item, description, params, dict(meta)))

    def _add(self, entry: Entry[T]) -> None:
        if entry.name in self._entries:
            raise ValueError(f"{self.kind} {entry.name!r} is registered twice")
        self._entries[entry.name] = entry

    def get(self, name: str, key: str | None = None) -> Entry[T]:
        """The entry for `name`; a ConfigError naming `key` and the allowed names otherwise."""
        try:
            return self._entries[name]
        except KeyError:
            where = f"{key} " if key else ""
            raise ConfigError(f"unknown {self.kind} {name!r} for {where}(allowed: {', '.join(self.names())})") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries[name] for name in self.names())
