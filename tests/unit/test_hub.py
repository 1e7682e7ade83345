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
