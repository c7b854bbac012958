"""policy-violation: what an auditor needs on the finding, beyond the zones and the port."""

from __future__ import annotations

from _detect_helpers import GW_MAC, asset, ctx, flow, site
from cranewatch.detect import policy

PLC, PLC_MAC = "10.50.1.10", "00:1b:1b:00:00:10"
MODEM_MAC = "00:1e:42:11:22:99"  # an undeclared Teltonika on the crane's segment


def test_leaving_the_site_names_the_server_and_the_device_it_went_through():
    hidden = flow(PLC, "203.0.113.9", dport=443, orig_mac=PLC_MAC, next_hop=MODEM_MAC,
                  name="rms.teltonika.lt")  # fmt: skip
    via_gw = flow(PLC, "198.51.100.7", dport=8883, orig_mac=PLC_MAC, next_hop=GW_MAC)
    assets = [
        asset(PLC_MAC, PLC, declared_id="crane-a-plc"),
        asset(MODEM_MAC, "10.50.1.99"),
        asset(GW_MAC, "10.50.1.1"),
    ]
    found = {v.peer_ip: v for v in policy.detect(ctx(site(), assets, flows=[hidden, via_gw]))}
    modem = found["203.0.113.9"]
    assert modem.peer_name == "rms.teltonika.lt"
    assert any(
        e.detail.startswith(f"sent through MAC {MODEM_MAC} (Teltonika")
        and e.detail.endswith(": not a declared gateway")
        for e in modem.evidence
    )
    gw = found["198.51.100.7"]
    assert gw.peer_name is None
    assert any(e.detail.endswith(": a declared gateway") for e in gw.evidence)


def test_a_name_that_is_only_the_address_is_not_a_name():
    named = flow(PLC, "203.0.113.9", dport=443, name="203.0.113.9")
    (v,) = policy.detect(ctx(site(), flows=[named]))
    assert v.peer_name is None
