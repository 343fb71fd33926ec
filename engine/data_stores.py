"""``data_stores``: the shared resources a blueprint hands to its handlers by name.

``StateMachineBlueprint(name, data_stores={"cache": redis_client, "seen": {}})`` gives every
handler that asks for ``data_stores`` one namespace, built once when the blueprint is defined:

- an object (a Redis client, a database pool, anything not a ``dict``) reaches handlers
  unchanged: ``data_stores.cache is redis_client``, so ``await data_stores.cache.get(key)`` is
  the client's own ``get``. Upstream avtomatika wraps every value in its dict store, which calls
  ``.copy()`` on it and so breaks the seed README's Redis example; here nothing is wrapped but dicts.
- a ``dict`` becomes an ``AsyncDictStore`` over a shallow copy of its items, so handlers can
  ``await store.get(key)`` / ``await store.set(key, value)`` as they would on a Redis client, and
  the dict the blueprint author passed is never modified.

An ``AsyncDictStore`` lives in the memory of the node process that loaded the blueprint: it is
not shared between nodes (each node has its own copy, starting from the same items), not
persisted, and gone when the process exits. On the embedded runtime that is one process; on the
distributed runtime two steps of one job may run on different nodes (shards move between nodes),
so a value one step sets may be missing in the next. Use a real store (Redis, a database) for
anything that must outlive a process or be seen by every node.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from engine.errors import BlueprintError


class AsyncDictStore:
    """A small async key-value store in this process's memory (see the module doc: per node).

    Every method runs without yielding to the event loop, so each is atomic with respect to other
    handlers on the same loop; a read-modify-write across two awaits is not. Values are stored by
    reference, not copied: a handler that mutates a value it got mutates the stored one.
    """

    def __init__(self, initial: Mapping[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = dict(initial or {})

    async def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` (None, as Redis's ``GET``) when it is not set."""
        return self._data.get(key, default)

    async def set(self, key: str, value: Any) -> None:
        """Set ``key`` to ``value``, replacing any previous value."""
        self._data[key] = value

    async def delete(self, key: str) -> bool:
        """Remove ``key``; True if it was set. Deleting a missing key is not an error."""
        return self._data.pop(key, _MISSING) is not _MISSING

    async def keys(self) -> list[str]:
        """The keys set now, in insertion order (a snapshot: later changes do not show in it)."""
        return list(self._data)

    def __repr__(self) -> str:
        return f"AsyncDictStore({len(self._data)} keys)"


_MISSING = object()


def data_stores_namespace(blueprint: str, stores: Mapping[str, Any] | None) -> SimpleNamespace:
    """The ``data_stores`` namespace of ``blueprint``: each ``dict`` value becomes an
    ``AsyncDictStore`` over a copy of it, every other value is kept as it is (the same object).

    Raises ``BlueprintError`` when a name is not a Python identifier, since handlers reach a
    store as an attribute (``data_stores.cache``)."""
    namespace: dict[str, Any] = {}
    for name, value in (stores or {}).items():
        if not isinstance(name, str) or not name.isidentifier():
            raise BlueprintError(blueprint, f"data store name {name!r} is not a Python identifier")
        namespace[name] = AsyncDictStore(value) if isinstance(value, dict) else value
    return SimpleNamespace(**namespace)
