"""The claim check (``engine.objects``): large payloads leave the job as references, small ones
stay as they are, and handlers get the values back."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from engine.errors import ObjectNotFound
from engine.objects import MARKER, check_in, check_out, has_references, referenced_key


class Payloads:
    """A ``JobObjects`` over a dict: the claim check's logic, without a store."""

    def __init__(self, limit: int = 100) -> None:
        self.inline_limit = limit
        self.stored: dict[str, bytes] = {}

    def task_files(self, job_id: str) -> Any:
        raise AssertionError("not used here")

    async def put_payload(self, job_id: str, key: str, data: bytes) -> None:
        assert key.startswith(f"{job_id}/")
        self.stored[key] = data

    async def get_payload(self, key: str) -> bytes:
        if key not in self.stored:
            raise ObjectNotFound(key)
        data: bytes = self.stored[key]
        return data


async def test_a_small_payload_is_kept_inline_as_the_same_object() -> None:
    objects, data = Payloads(), {"text": "hello", "n": 1}
    assert await check_in(objects, "j", "initial_data", data) is data
    assert objects.stored == {}
    assert await check_out(objects, "j", data) is data


async def test_without_an_object_store_nothing_is_offloaded() -> None:
    data = {"blob": "x" * 10_000}
    assert await check_in(None, "j", "initial_data", data) is data


async def test_the_largest_values_leave_until_the_rest_fits() -> None:
    objects = Payloads(limit=200)
    data = {"big": "b" * 500, "medium": "m" * 80, "small": 1}
    stored = await check_in(objects, "j", "tasks/t1", data)

    assert stored["small"] == 1 and stored["medium"] == "m" * 80  # the rest fits once "big" is out
    key = referenced_key(stored["big"])
    assert key is not None and key.startswith("j/payloads/tasks/t1/")
    assert stored["big"] == {MARKER: key, "size": 502}
    assert msgspec.json.decode(objects.stored[key]) == "b" * 500
    assert len(msgspec.json.encode(stored)) <= 200
    assert data["big"] == "b" * 500  # the caller's dict is left alone

    assert await check_out(objects, "j", stored) == data


async def test_references_outside_the_job_are_not_followed() -> None:
    objects = Payloads()
    objects.stored["other/payloads/x.json"] = b'"secret"'
    data = {"v": {MARKER: "other/payloads/x.json", "size": 8}}
    assert has_references(data)
    assert await check_out(objects, "j", data) == data


async def test_a_reference_to_a_missing_object_raises() -> None:
    with pytest.raises(ObjectNotFound):
        await check_out(Payloads(), "j", {"v": {MARKER: "j/payloads/gone.json", "size": 1}})
