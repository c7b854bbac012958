"""ARP (RFC 826) for Ethernet/IPv4: who claims which address.

Every ARP packet binds the sender MAC to the sender IP, which is how hosts that
talk only on the LAN (or gateways answering for others) become visible.
Probes (sender IP 0.0.0.0, RFC 5227) bind nothing; gratuitous ARP (sender IP
equals target IP) announces an address, e.g. after a failover.
"""

from __future__ import annotations

import ipaddress

from cranewatch.decode.select import Selector

SELECT = Selector(ethertypes=(0x0806,), per_flow=64)

OPS = {1: "request", 2: "reply", 3: "rarp-request", 4: "rarp-reply"}


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def parse(data: bytes) -> dict | None:
    """ARP fields after the EtherType; subject is the sender's MAC/IP binding."""
    try:
        data = bytes(data)
        if len(data) < 8:
            return None
        htype = int.from_bytes(data[0:2], "big")
        ptype = int.from_bytes(data[2:4], "big")
        hlen, plen = data[4], data[5]
        op = int.from_bytes(data[6:8], "big")
        out: dict = {"op": OPS.get(op, str(op)), "htype": htype, "ptype": ptype}
        if hlen != 6 or plen != 4 or ptype != 0x0800 or len(data) < 28:
            return out
        sha, spa, tha, tpa = data[8:14], data[14:18], data[18:24], data[24:28]
        sender_ip = str(ipaddress.IPv4Address(spa))
        out.update(
            sender_mac=_mac(sha),
            sender_ip=sender_ip,
            target_mac=_mac(tha),
            target_ip=str(ipaddress.IPv4Address(tpa)),
            probe=spa == b"\x00\x00\x00\x00",
            gratuitous=spa == tpa and spa != b"\x00\x00\x00\x00",
        )
        if any(sha):
            out["subject_mac"] = out["sender_mac"]
        if not out["probe"] and any(sha):
            out["subject_ip"] = sender_ip
            out["arp_binding"] = True
        return out
    except Exception:  # a parser must never raise on hostile bytes
        return None
