"""NetBIOS Name Service (RFC 1002) on UDP 137: the names Windows hosts claim.

A host registers or refreshes its names by broadcast, answers name queries and
node-status (NBSTAT) requests; those carry the host's computer name. Queries
carry names of *other* hosts and give no identity. The wire format is DNS
with first-level-encoded names, so `dns.py`'s bounded reader is reused.
"""

from __future__ import annotations

import ipaddress

from cranewatch.decode import dns
from cranewatch.decode.select import Selector

SELECT = Selector(l4="udp", ports=(137,), per_flow=16)

OPCODES = {
    0: "query",
    5: "registration",
    6: "release",
    7: "wack",
    8: "refresh",
    9: "refresh",
    15: "multihomed-registration",
}
CLAIM_OPCODES = (5, 6, 8, 9, 15)
HOST_SUFFIXES = (0x00, 0x20)
MAX_NODE_NAMES = 32


def decode_netbios(name: str) -> tuple[str, int] | None:
    """First-level decoding: 'FEEFFD...' -> ('NAME', suffix); None if not encoded."""
    label = name.split(".", 1)[0]
    if len(label) != 32 or any(not "A" <= c <= "P" for c in label.upper()):
        return None
    raw = bytes(
        ((ord(label[i].upper()) - 65) << 4) | (ord(label[i + 1].upper()) - 65)
        for i in range(0, 32, 2)
    )
    return raw[:15].decode("latin-1").rstrip(" \x00"), raw[15]


def _nb_addresses(buf: bytes, rec: dns.Record) -> list[tuple[bool, str]]:
    """(is_group, ipv4) entries of an NB record's rdata."""
    out = []
    end = rec.rdata_off + rec.rdata_len
    for off in range(rec.rdata_off, end - 5, 6):
        flags = int.from_bytes(buf[off : off + 2], "big")
        out.append((bool(flags & 0x8000), str(ipaddress.IPv4Address(buf[off + 2 : off + 6]))))
        if len(out) >= MAX_NODE_NAMES:
            break
    return out


def _node_status(buf: bytes, rec: dns.Record) -> tuple[list[tuple[str, int, bool]], str | None]:
    """Names (name, suffix, is_group) and unit id (MAC text) of an NBSTAT answer."""
    off, end = rec.rdata_off, rec.rdata_off + rec.rdata_len
    if off >= end:
        return [], None
    count = min(buf[off], MAX_NODE_NAMES)
    off += 1
    names = []
    for _ in range(count):
        if off + 18 > end:
            return names, None
        raw = buf[off : off + 18]
        flags = int.from_bytes(raw[16:18], "big")
        names.append((raw[:15].decode("latin-1").rstrip(" \x00"), raw[15], bool(flags & 0x8000)))
        off += 18
    mac = buf[off : off + 6] if off + 6 <= end else b""
    return names, (":".join(f"{b:02x}" for b in mac) if len(mac) == 6 else None)


def _claims(buf: bytes, msg: dns.Message, out: dict) -> None:
    """Fill identity/names from records that state the sender's own names."""
    claiming = (not msg.qr and msg.opcode in CLAIM_OPCODES) or (
        msg.qr and msg.opcode == 0 and msg.rcode == 0
    )
    if not claiming:
        return
    identity: dict = {}
    pairs: list[list[str]] = []
    for rec in msg.records:
        decoded = decode_netbios(rec.name)
        if rec.rtype == 32 and decoded is not None:
            name, suffix = decoded
            for group, ip in _nb_addresses(buf, rec):
                if not group and suffix in HOST_SUFFIXES and name:
                    identity.setdefault("hostname", name)
                    out.setdefault("subject_ip", ip)
                    if [name, ip] not in pairs:
                        pairs.append([name, ip])
        elif rec.rtype == 33:
            names, mac = _node_status(buf, rec)
            out["node_names"] = [f"{n}<{s:02x}>" for n, s, _ in names]
            for name, suffix, group in names:
                if suffix == 0x00 and name:
                    identity.setdefault("domain" if group else "hostname", name)
            if mac:
                out["unit_id"] = mac
    if identity:
        out["identity"] = identity
    if pairs:
        out["names"] = pairs


def parse(data: bytes) -> dict | None:
    """NBNS packet: opcode, queried names; identity {hostname} for claims/answers."""
    try:
        buf = bytes(data)
        msg = dns.parse_message(buf)
        if msg is None or (not msg.questions and not msg.records):
            return None
        queries = []
        for qname, qtype, _ in msg.questions:
            decoded = decode_netbios(qname)
            label = f"{decoded[0]}<{decoded[1]:02x}>" if decoded else qname
            queries.append([label, "NBSTAT" if qtype == 33 else dns.type_name(qtype)])
        out: dict = {
            "id": msg.id,
            "qr": msg.qr,
            "opcode": OPCODES.get(msg.opcode, str(msg.opcode)),
            "rcode": msg.rcode,
            "queries": queries,
        }
        _claims(buf, msg, out)
        return out
    except Exception:  # a parser must never raise on hostile bytes
        return None
