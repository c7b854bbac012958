"""Parser events kept once per fact: repeats counted, hostile variety capped and reported."""

from __future__ import annotations

from cranewatch.decode.events import Event
from cranewatch.inventory.event_log import MAX_CONTAINER_VARIANTS, MAX_VARIANTS, EventLog


def _ev(proto: str, sport: int, fields: dict, packet: int, dport: int = 502) -> Event:
    return Event(
        ts=1_700_000_000 + packet / 10,
        proto=proto,
        src_mac="02:00:00:00:00:01",
        dst_mac="02:00:00:00:00:02",
        src_ip="10.0.0.1",
        dst_ip="10.0.0.2",
        l4="tcp",
        sport=sport,
        dport=dport,
        fields=fields,
        ref=(0, packet),
    )


def test_repeats_are_counted_into_the_first_event():
    log = EventLog()
    polls = [
        _ev("modbus", 40000 + i % 3, {"transaction_id": i, "unit_id": 1, "function": 3}, i)
        for i in range(100)
    ]
    log.add(polls)
    (kept,) = log.events()
    assert kept.ref == (0, 0) and kept.sport == 40000  # the first one, as it came
    assert kept.fields == {"transaction_id": 0, "unit_id": 1, "function": 3, "count": 100}
    assert log.warnings() == []


def test_a_different_fact_is_its_own_event():
    log = EventLog()
    log.add([_ev("modbus", 40000, {"unit_id": 1, "function": f}, f) for f in (3, 3, 16, 3)])
    assert [(e.fields["function"], e.fields.get("count")) for e in log.events()] == [
        (3, 3),
        (16, None),
    ]


def test_variety_beyond_the_cap_is_counted_and_reported_once():
    log = EventLog()
    answers = [_ev("dns", 53, {"answers": [["h.example", "A", f"192.0.2.{i % 250}-{i}"]]}, i, 5353)
               for i in range(MAX_VARIANTS + 500)]  # fmt: skip
    log.add(answers)
    assert len(log) == MAX_VARIANTS
    assert log.warnings() == [
        f"500 dns events were counted but not kept: more than {MAX_VARIANTS} distinct ones "
        "between two hosts, or 50,000 in all; most between 10.0.0.1 and 10.0.0.2 (500)"
    ]
    numbers = [_ev("container-ids", 80, {"iso6346": [f"N{i}"]}, i) for i in range(5000)]
    log.add(numbers)
    assert sum(e.proto == "container-ids" for e in log.events()) == MAX_CONTAINER_VARIANTS


def test_merge_shifts_packet_numbers_and_adds_counts():
    first, second = EventLog(), EventLog()
    first.add([_ev("modbus", 40000, {"function": 3}, 5)])
    second.add([_ev("modbus", 40001, {"function": 3}, 1), _ev("modbus", 40001, {"function": 6}, 2)])
    first.merge(second, shift=1000)
    assert [(e.ref, e.fields.get("count")) for e in first.events()] == [
        ((0, 5), 2),
        ((0, 1002), None),
    ]


def test_many_pairs_of_hosts_are_capped_in_all(monkeypatch):
    """Spoofed sources make a new pair of hosts per packet: the total is capped too."""
    import cranewatch.inventory.event_log as event_log

    monkeypatch.setattr(event_log, "MAX_EVENTS", 100)
    log = EventLog()
    flood = []
    for i in range(300):
        e = _ev("container-ids", 80, {"iso6346": ["CSQU3054383"]}, i)
        e.src_ip = f"10.1.{i // 250}.{i % 250}"
        flood.append(e)
    log.add(flood)
    assert len(log) == 100 and log.dropped["container-ids"] == 200


def test_the_pair_most_events_were_dropped_for_is_named_after_a_merge():
    """A DNS tunnel: thousands of distinct names between one client and its resolver."""
    first, second = EventLog(), EventLog()
    tunnel = [
        _ev("dns", 53, {"query": f"q{i}.t.example"}, i, 5353) for i in range(MAX_VARIANTS + 30)
    ]
    other = [_ev("dns", 53, {"query": f"o{i}.example"}, i, 5353) for i in range(MAX_VARIANTS + 5)]
    for e in other:
        e.src_ip, e.dst_ip = "10.0.0.9", "10.0.0.2"
    first.add(tunnel)
    second.add(other)
    first.merge(second)
    assert first.warnings()[0].endswith("; most between 10.0.0.1 and 10.0.0.2 (30)")
