"""DHCPv4 / BOOTP (RFC 2131/2132): what clients say about themselves.

A client's DISCOVER/REQUEST/INFORM names its MAC (chaddr), its hostname and
vendor class, and its option-55 parameter list (a stable OS fingerprint).
Server OFFER/ACK messages say nothing about the sender's identity beyond
"I hand out leases", so they get `dhcp_server: True` and no `subject_mac`.
Option overload (option 52) is honoured: options may continue in the `file`
and `sname` fields.
"""

from __future__ import annotations

import ipaddress

from cranewatch.decode.select import Selector

SELECT = Selector(l4="udp", ports=(67, 68), per_flow=0)

MAGIC = b"\x63\x82\x53\x63"
FIXED = 236
MSG_TYPES = {
    1: "discover",
    2: "offer",
    3: "request",
    4: "decline",
    5: "ack",
    6: "nak",
    7: "release",
    8: "inform",
    9: "forcerenew",
    10: "leasequery",
    11: "leaseunassigned",
    12: "leaseunknown",
    13: "leaseactive",
}
SERVER_TYPES = ("offer", "ack", "nak", "forcerenew", "leaseunassigned", "leaseunknown")
MAX_OPTIONS = 255


def _ip(raw: bytes) -> str:
    return str(ipaddress.IPv4Address(raw))


def _ips(raw: bytes) -> list[str]:
    return [_ip(raw[i : i + 4]) for i in range(0, len(raw) - 3, 4)]


def _text(raw: bytes) -> str:
    """Option text: NUL padding stripped, undecodable bytes kept as latin-1."""
    return raw.split(b"\x00", 1)[0].decode("utf-8", "replace").strip()


def _colon_hex(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _walk_options(area: bytes, opts: dict[int, bytes], budget: list[int]) -> None:
    """Read TLV options from one area into `opts` (repeated codes concatenate, RFC 3396)."""
    off = 0
    while off < len(area) and budget[0] > 0:
        budget[0] -= 1
        code = area[off]
        if code == 0:
            off += 1
            continue
        if code == 255 or off + 1 >= len(area):
            return
        length = area[off + 1]
        value = area[off + 2 : off + 2 + length]
        opts[code] = opts.get(code, b"") + value
        off += 2 + length


def read_options(data: bytes) -> dict[int, bytes]:
    """All options, including those overloaded into `file` (108..235) and `sname` (44..107)."""
    opts: dict[int, bytes] = {}
    budget = [MAX_OPTIONS]
    _walk_options(data[FIXED + 4 :], opts, budget)
    overload = opts.get(52, b"\x00")[:1]
    if overload in (b"\x01", b"\x03"):
        _walk_options(data[108:236], opts, budget)
    if overload in (b"\x02", b"\x03"):
        _walk_options(data[44:108], opts, budget)
    return opts


def _chaddr(data: bytes) -> str | None:
    """Client hardware address as MAC text, for Ethernet-sized addresses."""
    hlen = data[2]
    if hlen == 6 or (hlen == 0 and data[1] == 0):
        raw = data[28:34]
        return _colon_hex(raw) if any(raw) else None
    return None


def _option_fields(opts: dict[int, bytes]) -> dict:
    """The named options we report, in their public form."""
    out: dict = {}
    if 53 in opts and opts[53]:
        out["msg_type"] = MSG_TYPES.get(opts[53][0], str(opts[53][0]))
    for code, key in ((54, "server_id"), (50, "requested_ip")):
        if len(opts.get(code, b"")) >= 4:
            out[key] = _ip(opts[code][:4])
    for code, key in ((12, "hostname"), (60, "vendor_class"), (15, "domain")):
        if opts.get(code):
            text = _text(opts[code])
            if text:
                out[key] = text
    if opts.get(55):
        out["param_list"] = ",".join(str(b) for b in opts[55])
    if opts.get(61):
        out["client_id"] = _colon_hex(opts[61])
    for code, key in ((3, "router"), (6, "dns_servers")):
        if len(opts.get(code, b"")) >= 4:
            out[key] = _ips(opts[code])
    if len(opts.get(51, b"")) >= 4:
        out["lease_time"] = int.from_bytes(opts[51][:4], "big")
    if len(opts.get(81, b"")) > 3:
        fqdn = _text(opts[81][3:])
        if fqdn.isprintable() and fqdn:
            out["client_fqdn"] = fqdn
    return out


def _identity(out: dict, chaddr: str | None) -> None:
    """Client messages describe chaddr's host; server messages flag the sender.

    A server's own option 60 (Aruba controllers send one) describes the server.
    """
    if out["op"] == 2 or out.get("msg_type") in SERVER_TYPES:
        out["dhcp_server"] = True
        if "vendor_class" in out:
            out["identity"] = {"dhcp_server_class": out["vendor_class"]}
        return
    identity = {k: out[k] for k in ("hostname", "vendor_class") if k in out}
    if chaddr:
        out["subject_mac"] = chaddr
    if identity:
        out["identity"] = identity


def parse(data: bytes) -> dict | None:
    """BOOTP/DHCPv4 message fields; None unless the magic cookie is present."""
    try:
        data = bytes(data)
        if len(data) < FIXED + 4 or data[FIXED : FIXED + 4] != MAGIC or data[0] not in (1, 2):
            return None
        chaddr = _chaddr(data)
        out: dict = {
            "op": data[0],
            "xid": int.from_bytes(data[4:8], "big"),
            "chaddr": chaddr,
            "ciaddr": _ip(data[12:16]),
            "yiaddr": _ip(data[16:20]),
            "siaddr": _ip(data[20:24]),
            "giaddr": _ip(data[24:28]),
        }
        out.update(_option_fields(read_options(data)))
        _identity(out, chaddr)
        return out
    except Exception:  # a parser must never raise on hostile bytes
        return None
