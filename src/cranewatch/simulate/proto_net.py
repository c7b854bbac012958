"""Network housekeeping protocols: ARP, LLDP, DHCP, DNS, NTP, Windows name chatter.

Each function returns the protocol bytes only (above Ethernet for ARP/LLDP,
the UDP payload for the rest); `wire.Wire` wraps them.
"""

from __future__ import annotations

import struct

NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
LLDP_MULTICAST = bytes.fromhex("0180c200000e")


# --- ARP -------------------------------------------------------------------------------


def arp(op: int, sha: bytes, spa: bytes, tha: bytes, tpa: bytes) -> bytes:
    """ARP for IPv4 over Ethernet; op 1 request, 2 reply."""
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + spa + tha + tpa


# --- LLDP ------------------------------------------------------------------------------


def _tlv(t: int, value: bytes) -> bytes:
    return ((t << 9) | len(value)).to_bytes(2, "big") + value


def lldp(
    chassis_mac: bytes,
    port_id: str,
    port_desc: str,
    sys_name: str,
    sys_desc: str,
    mgmt_ip: bytes,
    ttl: int = 120,
    caps: int = 0x0004,
) -> bytes:
    """LLDPDU (IEEE 802.1AB) as a managed switch sends it every 30 s."""
    mgmt = bytes((5, 1)) + mgmt_ip + b"\x02" + (1).to_bytes(4, "big") + b"\x00"
    return b"".join(
        (
            _tlv(1, b"\x04" + chassis_mac),  # chassis id: MAC address
            _tlv(2, b"\x05" + port_id.encode()),  # port id: interface name
            _tlv(3, ttl.to_bytes(2, "big")),
            _tlv(4, port_desc.encode()),
            _tlv(5, sys_name.encode()),
            _tlv(6, sys_desc.encode()),
            _tlv(7, caps.to_bytes(2, "big") + caps.to_bytes(2, "big")),
            _tlv(8, mgmt),
            _tlv(0, b""),
        )
    )


# --- DHCP ------------------------------------------------------------------------------

DHCP_DISCOVER, DHCP_OFFER, DHCP_REQUEST, DHCP_ACK = 1, 2, 3, 5
_MAGIC = b"\x63\x82\x53\x63"


def _opt(code: int, value: bytes) -> bytes:
    return bytes((code, len(value))) + value


def dhcp(
    op: int,
    xid: int,
    chaddr: bytes,
    msg_type: int,
    *,
    ciaddr: bytes = bytes(4),
    yiaddr: bytes = bytes(4),
    siaddr: bytes = bytes(4),
    giaddr: bytes = bytes(4),
    broadcast: bool = False,
    hostname: str | None = None,
    server_id: bytes | None = None,
    requested: bytes | None = None,
    router: bytes | None = None,
    dns: bytes | None = None,
    mask: bytes | None = None,
    lease: int | None = None,
    domain: str | None = None,
    vendor_class: str | None = None,
    secs: int = 0,
) -> bytes:
    """BOOTP/DHCP message (RFC 2131) with the options a Windows client and a server use."""
    hdr = struct.pack(
        "!BBBBIHH4s4s4s4s",
        op,
        1,
        6,
        0,
        xid,
        secs,
        0x8000 if broadcast else 0,
        ciaddr,
        yiaddr,
        siaddr,
        giaddr,
    )
    body = hdr + chaddr + bytes(10) + bytes(64) + bytes(128) + _MAGIC
    opts = [_opt(53, bytes((msg_type,)))]
    if op == 1:
        opts.append(_opt(61, b"\x01" + chaddr))
    if requested:
        opts.append(_opt(50, requested))
    if server_id:
        opts.append(_opt(54, server_id))
    if hostname:
        opts.append(_opt(12, hostname.encode()))
    if vendor_class:
        opts.append(_opt(60, vendor_class.encode()))
    if op == 1:
        opts.append(_opt(55, bytes((1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252))))
    if lease is not None:
        opts.append(_opt(51, lease.to_bytes(4, "big")))
        opts.append(_opt(58, (lease // 2).to_bytes(4, "big")))
        opts.append(_opt(59, (lease * 7 // 8).to_bytes(4, "big")))
    if mask:
        opts.append(_opt(1, mask))
    if router:
        opts.append(_opt(3, router))
    if dns:
        opts.append(_opt(6, dns))
    if domain:
        opts.append(_opt(15, domain.encode()))
    return body + b"".join(opts) + b"\xff"


# --- DNS -------------------------------------------------------------------------------


def _qname(name: str) -> bytes:
    return b"".join(bytes((len(p),)) + p.encode() for p in name.split(".") if p) + b"\0"


def dns_query(txid: int, name: str, qtype: int = 1) -> bytes:
    """Standard recursive query for one name (qtype 1 A, 28 AAAA, 12 PTR)."""
    return (
        struct.pack("!HHHHHH", txid, 0x0100, 1, 0, 0, 0)
        + _qname(name)
        + struct.pack("!HH", qtype, 1)
    )


def dns_response(txid: int, name: str, addrs: list[bytes], ttl: int = 300, qtype: int = 1) -> bytes:
    """Answer with A records (compressed name pointer to the question)."""
    flags = 0x8180 if addrs or qtype != 1 else 0x8183
    head = struct.pack("!HHHHHH", txid, flags, 1, len(addrs), 0, 0)
    q = _qname(name) + struct.pack("!HH", qtype, 1)
    answers = b"".join(struct.pack("!HHHIH", 0xC00C, 1, 1, ttl, 4) + a for a in addrs)
    return head + q + answers


# --- NTP -------------------------------------------------------------------------------


def _ntp_ts(ts_us: int) -> bytes:
    sec, usec = divmod(ts_us, 1_000_000)
    return struct.pack("!II", (sec + NTP_EPOCH_OFFSET) & 0xFFFFFFFF, (usec << 32) // 1_000_000)


def ntp_client(ts_us: int) -> bytes:
    """NTPv4 client request (mode 3) with the transmit timestamp set."""
    return bytes((0x23, 0, 6, 0xEC)) + bytes(8) + bytes(4) + bytes(24) + _ntp_ts(ts_us)


def ntp_server(ts_us: int, origin: bytes, stratum: int, refid: bytes) -> bytes:
    """NTPv4 server reply (mode 4); `origin` is the client's transmit timestamp."""
    return (
        bytes((0x24, stratum, 6, 0xE9))
        + struct.pack("!II", 0x10, 0x20)
        + refid
        + _ntp_ts(ts_us - 16_000_000)
        + origin
        + _ntp_ts(ts_us - 50)
        + _ntp_ts(ts_us)
    )


# --- Windows name chatter (what any laptop says when plugged in) -----------------------


def nbns_register(txid: int, name: str, ip: bytes) -> bytes:
    """NetBIOS name registration broadcast (RFC 1002)."""
    padded = name.upper()[:15].ljust(15) + "\x00"
    enc = "".join(chr(0x41 + (ord(c) >> 4)) + chr(0x41 + (ord(c) & 0xF)) for c in padded)
    qn = bytes((32,)) + enc.encode() + b"\x00"
    return (
        struct.pack("!HHHHHH", txid, 0x2910, 1, 0, 0, 1)
        + qn
        + struct.pack("!HH", 0x20, 1)
        + b"\xc0\x0c"
        + struct.pack("!HHIH", 0x20, 1, 300_000, 6)
        + b"\x00\x00"
        + ip
    )


def llmnr_query(txid: int, name: str) -> bytes:
    """LLMNR query (RFC 4795), same wire format as DNS."""
    return struct.pack("!HHHHHH", txid, 0, 1, 0, 0, 0) + _qname(name) + struct.pack("!HH", 1, 1)


def ssdp_msearch() -> bytes:
    """SSDP M-SEARCH a Windows host multicasts to find UPnP devices."""
    return (
        b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\n'
        b"MX: 1\r\nST: urn:dial-multiscreen-org:service:dial:1\r\n"
        b"USER-AGENT: Microsoft Edge/122.0.2365.66 Windows\r\n\r\n"
    )
