"""The embedded runtime's transports: in-memory broker and store."""

from transport.memory_broker import MemoryBroker
from transport.memory_store import MemoryStore

__all__ = ["MemoryBroker", "MemoryStore"]
