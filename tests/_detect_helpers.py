"""Builders for detector tests: flows, assets, events, a site, and raw frames.

Values here are generic documentation/test addresses (RFC 5737, RFC 1918), not
anything the simulator uses: the detectors must work on any terminal.
"""

from __future__ import annotations

import struct

import dpkt
import netaddr
import numpy as np

from cranewatch.decode.events import Event
from cranewatch.detect.context import DetectContext
from cranewatch.inventory.model import Asset, Flow
from cranewatch.knowledge import load
from cranewatch.sources.batch import PAD, RawBatch

SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01

SITE_YAML = """
site: Test terminal
zones:
  - name: crane-a
    cidrs: [10.50.1.0/24]
    gateways: [10.50.1.1]
  - name: office
    cidrs: [10.60.0.0/24]
    gateways: [10.60.0.1]
assets:
  - {id: crane-a-plc, mac: "00:1b:1b:00:00:10", ip: 10.50.1.10, role: plc}
  - {id: crane-a-hmi, mac: "00:0c:29:00:00:20", ip: 10.50.1.20, role: hmi}
  - {id: crane-a-jump, mac: "00:0c:29:00:00:30", ip: 10.50.1.30, role: workstation}
  - {id: crane-a-lte, mac: "00:1e:42:11:22:33", ip: 10.50.1.250, role: modem}
  - {id: office-ntp, ip: 10.60.0.5, role: server}
  - {id: vendor-cloud-ntp, ip: 203.0.113.123, role: server}
conduits:
  - {from: crane-a, to: office, ports: [tcp/502, udp/123]}
  - {from: internet, to: crane-a-jump, ports: [udp/1194], remote_access: true}
  - {from: office, to: crane-a, ports: [tcp/22]}
container_data_to: [office]
"""

GW_MAC = "00:00:5e:00:01:01"  # holds 10.50.1.1


def site():
    from cranewatch.inventory.site import loads_site

    return loads_site(SITE_YAML, "test-site.yaml")


def org(mac: str) -> str | None:
    """The IEEE registry organisation of a MAC, as the inventory fills Asset.vendor."""
    try:
        return netaddr.EUI(mac).oui.registration().org.rstrip(", ")
    except (netaddr.NotRegisteredError, netaddr.AddrFormatError, IndexError):
        return None


def asset(mac: str | None, *ips: str, **kw) -> Asset:
    kw.setdefault("vendor", org(mac) if mac else None)
    kw.setdefault("first_seen", 1000.0)
    kw.setdefault("last_seen", 2000.0)
    return Asset(id=f"a-{mac or ips[0]}", mac=mac, ips=list(ips), **kw)


def flow(
    orig: str,
    resp: str,
    proto: int = 6,
    sport: int = 50000,
    dport: int = 443,
    ts: float = 1000.0,
    dur: float = 1.0,
    orig_mac: str | None = None,
    resp_mac: str | None = None,
    next_hop: str | None = None,
    handshake: bool = True,
    answered: bool = True,
    **kw,
) -> Flow:
    """A flow; TCP flows get SYN / SYN-ACK flags unless handshake=False."""
    of = rf = 0
    if proto == 6:
        of = (SYN | ACK | PSH) if handshake else (ACK | PSH)
        rf = ((SYN | ACK | PSH) if handshake else (ACK | PSH)) if answered else 0
    kw.setdefault("orig_pkts", 5)
    kw.setdefault("resp_pkts", 5 if answered else 0)
    kw.setdefault("orig_bytes", 400)
    kw.setdefault("resp_bytes", 1200 if answered else 0)
    return Flow(
        proto=proto, orig_ip=orig, resp_ip=resp, orig_port=sport, resp_port=dport,
        first_ts=ts, last_ts=ts + dur, orig_flags=of, resp_flags=rf,
        orig_mac=orig_mac, orig_next_hop=next_hop or resp_mac, resp_mac=resp_mac, **kw,
    )  # fmt: skip


def event(proto: str, src: str | None, dst: str | None, fields: dict, **kw) -> Event:
    kw.setdefault("ts", 1000.0)
    kw.setdefault("src_mac", None)
    kw.setdefault("dst_mac", None)
    kw.setdefault("l4", "udp")
    kw.setdefault("sport", 0)
    kw.setdefault("dport", 0)
    return Event(proto=proto, src_ip=src, dst_ip=dst, fields=fields, **kw)


def ctx(site=None, assets=(), flows=(), events=()) -> DetectContext:
    return DetectContext(
        site=site, assets=list(assets), flows=list(flows), events=list(events), knowledge=load()
    )


# ---------------------------------------------------------------- raw frames


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def frame(
    src_ip: str, dst_ip: str, payload: bytes, *, l4: str = "tcp", sport: int = 40000, dport: int = 80,
    src_mac: str = "02:00:00:00:00:01", dst_mac: str = "02:00:00:00:00:02",
) -> bytes:  # fmt: skip
    """Ethernet/IPv4/TCP-or-UDP frame carrying `payload`, built and checksummed by dpkt."""
    if l4 == "tcp":
        seg = dpkt.tcp.TCP(sport=sport, dport=dport, flags=PSH | ACK, data=payload)
        proto = dpkt.ip.IP_PROTO_TCP
    else:
        seg = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
        seg.ulen = 8 + len(payload)
        proto = dpkt.ip.IP_PROTO_UDP
    ip = dpkt.ip.IP(
        src=netaddr.IPAddress(src_ip).packed,
        dst=netaddr.IPAddress(dst_ip).packed,
        p=proto,
        data=seg,
    )
    ip.len = 20 + len(bytes(seg))
    eth = dpkt.ethernet.Ethernet(
        src=_mac(src_mac), dst=_mac(dst_mac), type=dpkt.ethernet.ETH_TYPE_IP, data=ip
    )
    return bytes(eth)


def dns_query(name: str, qid: int = 0x1234) -> bytes:
    """A DNS query message for `name` (A record), as on the wire."""
    q = dpkt.dns.DNS(id=qid, qd=[dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_A)])
    return bytes(q)


def mqtt_publish(topic: str, message: bytes) -> bytes:
    body = struct.pack(">H", len(topic)) + topic.encode() + message
    return bytes([0x30, len(body)]) + body


def batch(frames: list[bytes], t0: float = 1000.0) -> RawBatch:
    """Frames -> one RawBatch (Ethernet link type), PAD zeros after the last packet."""
    lens = np.array([len(f) for f in frames], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    data = np.frombuffer(b"".join(frames) + bytes(PAD), dtype=np.uint8).copy()
    return RawBatch(
        data=data, offsets=offsets, caplens=lens.astype(np.int32), wirelens=lens.astype(np.int32),
        ts=t0 + np.arange(len(frames), dtype=np.float64), linktypes=np.ones(len(frames), dtype=np.uint16),
    )  # fmt: skip
