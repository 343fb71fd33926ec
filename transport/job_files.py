"""The object store as the step and the gateway use it: ``engine.objects.JobObjects`` (the claim
check and handlers' ``task_files``), with the job's purge scheduled before its first object is
written (``actors.files``)."""

from __future__ import annotations

from pathlib import Path

from actors.files import Purges
from actors.ports.objects import ObjectStore
from transport.task_files import TaskFiles


class JobFiles:
    """``JobObjects`` over ``objects``; ``purges`` None means objects are never deleted for the job
    (``S3_AUTO_CLEANUP=false``)."""

    def __init__(
        self, objects: ObjectStore, *, inline_limit: int, task_files_dir: str | Path, purges: Purges | None
    ) -> None:
        self.objects, self._inline_limit = objects, inline_limit
        self._local_root, self._purges = Path(task_files_dir), purges

    @property
    def inline_limit(self) -> int:
        return self._inline_limit

    async def touched(self, job_id: str) -> None:
        """Call before the first object of ``job_id`` is written."""
        if self._purges is not None:
            await self._purges.touched(job_id)

    def task_files(self, job_id: str) -> TaskFiles:
        async def touched() -> None:
            await self.touched(job_id)

        return TaskFiles(self.objects, job_id, self._local_root, touched)

    async def put_payload(self, job_id: str, key: str, data: bytes) -> None:
        await self.touched(job_id)
        await self.objects.put(key, data, content_type="application/json")

    async def get_payload(self, key: str) -> bytes:
        reader = await self.objects.get(key)
        return b"".join([chunk async for chunk in reader])
