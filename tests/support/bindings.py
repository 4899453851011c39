"""DeviceBindingsTable in memory, with the conditions adapters/binding_store.py gives DynamoDB:
`bind` refuses a client id another device holds (live, not ended) and replaces anything else,
`end` marks a binding ended (kept until it expires) when it was bound at or before that time and
has not ended, `delete` only the device's own. Its fidelity to the real adapter is checked against
moto (tests/integration/test_authorizer.py)."""

from __future__ import annotations

import dataclasses

from mqtt_actions.bindings import Binding


class MemoryBindings:
    def __init__(self, *held: Binding) -> None:
        self.rows: dict[str, Binding] = {b.client_id: b for b in held}
        self.reads: list[str] = []

    def get(self, client_id: str) -> Binding | None:
        self.reads.append(client_id)
        return self.rows.get(client_id)

    def bind(self, binding: Binding, now_s: int) -> Binding | None:
        held = self.rows.get(binding.client_id)
        if held is not None and held.device != binding.device and held.holds(now_s):
            return held
        self.rows[binding.client_id] = binding
        return None

    def end(self, client_id: str, *, bound_at_most_ms: int) -> bool:
        held = self.rows.get(client_id)
        if held is None or held.bound_at_ms > bound_at_most_ms or held.ended_at_ms is not None:
            return False
        self.rows[client_id] = dataclasses.replace(held, ended_at_ms=bound_at_most_ms)
        return True

    def delete(self, client_id: str, device: str) -> bool:
        held = self.rows.get(client_id)
        if held is None or held.device != device:
            return False
        del self.rows[client_id]
        return True

    def by_device(self, device: str) -> list[Binding]:
        return [b for b in self.rows.values() if b.device == device]

    def all(self) -> list[Binding]:
        return list(self.rows.values())
