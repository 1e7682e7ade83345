"""The hub tells listeners about real changes only, in order."""

from __future__ import annotations

from gateway.hub import Hub, HubMessage, Snapshot, StateMessage
from gateway.safety.direction import Direction


def test_update_publishes_only_real_changes() -> None:
    hub = Hub(Snapshot("tm1"))
    seen: list[HubMessage] = []
    unsubscribe = hub.subscribe(seen.append)
    hub.update(speed_kmh=5.0, direction=Direction.FORWARD)
    hub.update(speed_kmh=5.0, direction=Direction.FORWARD)  # nothing changed: no message
    hub.update(speed_kmh=5.5)
    assert [m.snapshot.speed_kmh for m in seen if isinstance(m, StateMessage)] == [5.0, 5.5]
    unsubscribe()
    hub.update(speed_kmh=6.0)
    assert len(seen) == 2
    assert hub.snapshot.speed_kmh == 6.0


def test_a_failing_listener_does_not_stop_the_others() -> None:
    hub = Hub(Snapshot("tm1"))
    seen: list[HubMessage] = []

    def broken(_: HubMessage) -> None:
        raise RuntimeError("listener bug")

    hub.subscribe(broken)
    hub.subscribe(seen.append)
    hub.update(speed_kmh=1.0)
    assert len(seen) == 1


def test_snapshot_changes_name_every_snapshot_field_but_the_station() -> None:
    """The two lists are kept by hand (issue 24): a field added to one must be in both."""
    import dataclasses
    import typing

    from gateway.hub import Snapshot, SnapshotChanges

    fields = {f.name: f.type for f in dataclasses.fields(Snapshot)}
    changes = typing.get_type_hints(SnapshotChanges)
    assert set(changes) == set(fields) - {"station"}
    hints = typing.get_type_hints(Snapshot)
    assert {name: hints[name] for name in changes} == changes
