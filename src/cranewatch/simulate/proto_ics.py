"""Industrial protocols of a crane: S7comm, Modbus/TCP, EtherNet/IP + CIP I/O, PROFINET.

Byte layouts follow the Wireshark dissectors (packet-s7comm.c, packet-mbtcp.c,
packet-enip.c, packet-pn-dcp.c) so that tshark shows every field; cyclic
frames are built once as templates and only their counters are patched.
"""

from __future__ import annotations

import struct

# --- S7comm (ISO-on-TCP, RFC 1006 / ISO 8073 COTP) ---------------------------------------


def tpkt(payload: bytes) -> bytes:
    return struct.pack("!BBH", 3, 0, 4 + len(payload)) + payload


def cotp_cr(src_ref: int, src_tsap: int, dst_tsap: int) -> bytes:
    """COTP connection request with TPDU size 1024 and both TSAPs."""
    params = (
        b"\xc0\x01\x0a"
        + b"\xc1\x02"
        + src_tsap.to_bytes(2, "big")
        + b"\xc2\x02"
        + dst_tsap.to_bytes(2, "big")
    )
    body = b"\xe0" + struct.pack("!HHB", 0, src_ref, 0) + params
    return tpkt(bytes((len(body),)) + body)


def cotp_cc(dst_ref: int, src_ref: int, src_tsap: int, dst_tsap: int) -> bytes:
    params = (
        b"\xc0\x01\x0a"
        + b"\xc1\x02"
        + src_tsap.to_bytes(2, "big")
        + b"\xc2\x02"
        + dst_tsap.to_bytes(2, "big")
    )
    body = b"\xd0" + struct.pack("!HHB", dst_ref, src_ref, 0) + params
    return tpkt(bytes((len(body),)) + body)


def _s7(rosctr: int, pdu_ref: int, param: bytes, data: bytes = b"") -> bytes:
    """COTP DT + S7 header (+ error class/code for ack-data) + parameter + data."""
    hdr = struct.pack("!BBHHHH", 0x32, rosctr, 0, pdu_ref, len(param), len(data))
    if rosctr in (2, 3):
        hdr += b"\x00\x00"
    return tpkt(b"\x02\xf0\x80" + hdr + param + data)


def s7_setup(pdu_ref: int, pdu_len: int = 480, ack: bool = False) -> bytes:
    """Setup communication job (or its ack-data) negotiating the PDU size."""
    param = b"\xf0\x00" + struct.pack("!HHH", 1, 1, pdu_len)
    return _s7(3 if ack else 1, pdu_ref, param)


def s7_szl_request(pdu_ref: int, szl_id: int = 0x0011, index: int = 0) -> bytes:
    """Userdata: CPU functions / read SZL (the module identification list)."""
    param = b"\x00\x01\x12\x04\x11\x44\x01\x00"
    data = b"\xff\x09" + struct.pack("!HHH", 4, szl_id, index)
    return _s7(7, pdu_ref, param, data)


def s7_szl_0011_response(pdu_ref: int, order_no: str, hw: int, fw: tuple[int, int, int]) -> bytes:
    """Read SZL 0x0011 answer: order number, hardware and firmware records."""
    mlfb = order_no.encode().ljust(20)[:20]
    recs = [
        struct.pack("!H", 1) + mlfb + struct.pack("!HHH", 0, hw >> 16 & 0xFFFF, hw & 0xFFFF),
        struct.pack("!H", 6) + mlfb + struct.pack("!HHH", 0, 0, hw & 0xFF),
        struct.pack("!H", 7)
        + b" " * 20
        + struct.pack("!H", 0)
        + b"V"
        + bytes((fw[0],))
        + bytes(fw[1:]),
    ]
    body = struct.pack("!HHHH", 0x0011, 0, 28, len(recs)) + b"".join(recs)
    param = b"\x00\x01\x12\x08\x12\x84\x01\x01\x00\x00\x00\x00"
    data = b"\xff\x09" + struct.pack("!H", len(body)) + body
    return _s7(7, pdu_ref, param, data)


def s7_read_db(pdu_ref: int, items: list[tuple[int, int, int]]) -> bytes:
    """Read var job for (db, start byte, length) items of type BYTE."""
    param = (
        b"\x04"
        + bytes((len(items),))
        + b"".join(
            b"\x12\x0a\x10\x02"
            + struct.pack("!HH", ln, db)
            + b"\x84"
            + (start * 8).to_bytes(3, "big")
            for db, start, ln in items
        )
    )
    return _s7(1, pdu_ref, param)


def s7_read_db_ack(pdu_ref: int, values: list[bytes]) -> bytes:
    """Read var ack-data: one item per value, padded to even length between items."""
    parts = []
    for i, v in enumerate(values):
        item = b"\xff\x04" + struct.pack("!H", len(v) * 8) + v
        if len(v) & 1 and i < len(values) - 1:
            item += b"\x00"
        parts.append(item)
    return _s7(3, pdu_ref, b"\x04" + bytes((len(values),)), b"".join(parts))


# --- Modbus/TCP ------------------------------------------------------------------------


def modbus_read_req(tid: int, unit: int, start: int, count: int, fc: int = 3) -> bytes:
    """Read holding (fc 3) or input (fc 4) registers."""
    return struct.pack("!HHHBBHH", tid, 0, 6, unit, fc, start, count)


def modbus_read_resp(tid: int, unit: int, regs: bytes, fc: int = 3) -> bytes:
    return struct.pack("!HHHBBB", tid, 0, 3 + len(regs), unit, fc, len(regs)) + regs


# --- EtherNet/IP -----------------------------------------------------------------------

ENIP_PORT = 44818
CIP_IO_PORT = 2222


def enip_list_identity_req(context: bytes) -> bytes:
    """ListIdentity (0x0063) request, sent by RSLinx-style browsers as a broadcast."""
    return struct.pack("<HHII", 0x0063, 0, 0, 0) + context + struct.pack("<I", 0)


def enip_list_identity_resp(
    context: bytes,
    ip: bytes,
    vendor: int,
    dev_type: int,
    product_code: int,
    rev: tuple[int, int],
    serial: int,
    name: str,
    status: int = 0x0060,
    state: int = 3,
) -> bytes:
    """ListIdentity reply carrying one CIP Identity item (0x000C)."""
    sockaddr = struct.pack(">HH", 2, ENIP_PORT) + ip + bytes(8)
    nm = name.encode()
    item = (
        struct.pack("<H", 1)
        + sockaddr
        + struct.pack("<HHHBBHI", vendor, dev_type, product_code, rev[0], rev[1], status, serial)
        + bytes((len(nm),))
        + nm
        + bytes((state,))
    )
    cpf = struct.pack("<HHH", 1, 0x000C, len(item)) + item
    return struct.pack("<HHII", 0x0063, len(cpf), 0, 0) + context + struct.pack("<I", 0) + cpf


def cip_io(conn_id: int, enc_seq: int, cip_seq: int, data: bytes, run_idle: bool) -> bytes:
    """Class 1 implicit I/O datagram on udp/2222: sequenced address + connected data."""
    payload = struct.pack("<H", cip_seq & 0xFFFF)
    if run_idle:
        payload += struct.pack("<I", 1)
    payload += data
    return (
        struct.pack("<HHHII", 2, 0x8002, 8, conn_id, enc_seq & 0xFFFFFFFF)
        + struct.pack("<HH", 0x00B1, len(payload))
        + payload
    )


# --- PROFINET --------------------------------------------------------------------------

PN_DCP_MULTICAST = bytes.fromhex("010ecf000000")


def _dcp_block(opt: int, sub: int, data: bytes, info: bool = True) -> bytes:
    body = (b"\x00\x00" if info else b"") + data
    blk = bytes((opt, sub)) + struct.pack("!H", len(body)) + body
    return blk + (b"\x00" if len(body) & 1 else b"")


def pn_dcp_identify_req(xid: int) -> bytes:
    """DCP Identify All request (FrameID 0xFEFE) to the PROFINET multicast."""
    return struct.pack("!HBBIHH", 0xFEFE, 5, 0, xid, 1, 4) + b"\xff\xff\x00\x00"


def pn_dcp_identify_resp(
    xid: int,
    station: str,
    type_of_station: str,
    vendor_id: int,
    device_id: int,
    ip: bytes,
    mask: bytes,
    gw: bytes,
    role: int = 1,
) -> bytes:
    """DCP Identify response (FrameID 0xFEFF) with name, type, IDs, role and IP block."""
    blocks = b"".join(
        (
            _dcp_block(2, 1, type_of_station.encode()),
            _dcp_block(2, 2, station.encode()),
            _dcp_block(2, 3, struct.pack("!HH", vendor_id, device_id)),
            _dcp_block(2, 4, bytes((role, 0))),
            _dcp_block(2, 5, bytes((1, 2, 2, 1, 2, 2, 2, 3, 2, 4, 2, 5, 2, 7))),
            # IP block: BlockInfo 0x0001 = IP set statically
            b"\x01\x02" + struct.pack("!HH", 14, 1) + ip + mask + gw,
        )
    )
    return struct.pack("!HBBIHH", 0xFEFF, 5, 1, xid, 0, len(blocks)) + blocks


def pn_rt_cyclic(frame_id: int, data: bytes, cycle: int) -> bytes:
    """RT_CLASS_1 cyclic frame: IO data, cycle counter, data status (valid, run), transfer."""
    return struct.pack("!H", frame_id) + data + struct.pack("!HBB", cycle & 0xFFFF, 0x35, 0)


def enip_register_session(handle: int = 0, reply: bool = False) -> bytes:
    """RegisterSession (0x0065) over tcp/44818; the reply carries the session handle."""
    return (
        struct.pack("<HHII", 0x0065, 4, handle if reply else 0, 0)
        + bytes(8)
        + struct.pack("<I", 0)
        + struct.pack("<HH", 1, 0)
    )


# --- OPC UA binary (tcp/4840) ----------------------------------------------------------


def opcua_hello(endpoint: str) -> bytes:
    """OPC UA HEL message (Part 6, 7.1.2.3)."""
    url = endpoint.encode()
    body = struct.pack("<IIIII", 0, 65535, 65535, 0, 0) + struct.pack("<i", len(url)) + url
    return b"HELF" + struct.pack("<I", 8 + len(body)) + body


def opcua_ack() -> bytes:
    """OPC UA ACK message answering a HEL."""
    body = struct.pack("<IIIII", 0, 65535, 65535, 16_777_216, 5000)
    return b"ACKF" + struct.pack("<I", 8 + len(body)) + body
