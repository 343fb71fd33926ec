"""The job archive on PostgreSQL (``HISTORY_DATABASE_URI``): the pool and migrations
(``database``), the writer and reader (``postgres``). The feed it is filled from lives beside the
stores: ``transport.redis_store.archive_feed``, ``transport.memory_archive``."""

from transport.archive.database import Database
from transport.archive.postgres import PostgresArchive

__all__ = ["Database", "PostgresArchive"]
