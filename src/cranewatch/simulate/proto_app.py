"""Application protocols: HTTP, TLS, MQTT, RTSP/RTP/RTCP, OpenVPN and remote-access tools.

Only the bytes a passive observer sees in clear are real (handshakes, banners,
headers); encrypted records carry random bytes of plausible size.
"""

from __future__ import annotations

import random
import struct

# --- HTTP ------------------------------------------------------------------------------


def http_request(
    method: str,
    host: str,
    path: str,
    body: bytes = b"",
    content_type: str | None = None,
    user_agent: str = "curl/7.88.1",
    extra: tuple[tuple[str, str], ...] = (),
) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {host}",
        f"User-Agent: {user_agent}",
        "Accept: */*",
    ]
    lines += [f"{k}: {v}" for k, v in extra]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Type: {content_type or 'application/octet-stream'}")
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def http_response(
    status: int,
    reason: str,
    body: bytes = b"",
    server: str | None = None,
    content_type: str = "text/html",
    extra: tuple[tuple[str, str], ...] = (),
) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    if server:
        lines.append(f"Server: {server}")
    lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# --- TLS -------------------------------------------------------------------------------

_CIPHERS = bytes.fromhex("130113021303c02bc02fc02cc030cca9cca8c013c014009c009d002f0035")


def _ext(t: int, data: bytes) -> bytes:
    return struct.pack("!HH", t, len(data)) + data


def _record(ctype: int, body: bytes, version: int = 0x0303) -> bytes:
    return struct.pack("!BHH", ctype, version, len(body)) + body


def tls_client_hello(rng: random.Random, sni: str | None, alpn: tuple[str, ...] = ()) -> bytes:
    """TLS 1.3-capable ClientHello record with SNI, groups, key share, versions."""
    exts = []
    if sni:
        name = sni.encode()
        exts.append(_ext(0, struct.pack("!HBH", len(name) + 3, 0, len(name)) + name))
    exts.append(_ext(23, b""))  # extended master secret
    exts.append(_ext(65281, b"\x00"))  # renegotiation info
    exts.append(_ext(10, bytes.fromhex("0008001d001700180019")))
    exts.append(_ext(11, b"\x01\x00"))
    if alpn:
        lst = b"".join(bytes((len(a),)) + a.encode() for a in alpn)
        exts.append(_ext(16, struct.pack("!H", len(lst)) + lst))
    exts.append(_ext(13, bytes.fromhex("0012040308040401050308050501080606010201")))
    exts.append(_ext(51, struct.pack("!HHH", 36, 0x001D, 32) + rng.randbytes(32)))
    exts.append(_ext(45, b"\x01\x01"))
    exts.append(_ext(43, b"\x04\x03\x04\x03\x03"))
    ext = b"".join(exts)
    sid = rng.randbytes(32)
    hello = (
        b"\x03\x03"
        + rng.randbytes(32)
        + bytes((32,))
        + sid
        + struct.pack("!H", len(_CIPHERS))
        + _CIPHERS
        + b"\x01\x00"
        + struct.pack("!H", len(ext))
        + ext
    )
    hs = b"\x01" + len(hello).to_bytes(3, "big") + hello
    return _record(22, hs, 0x0301)


def tls_server_hello(rng: random.Random, session_id: bytes | None = None) -> bytes:
    """ServerHello (TLS 1.3) + ChangeCipherSpec + encrypted handshake records."""
    sid = session_id if session_id is not None else rng.randbytes(32)
    ext = _ext(43, b"\x03\x04") + _ext(51, struct.pack("!HH", 0x001D, 32) + rng.randbytes(32))
    hello = (
        b"\x03\x03"
        + rng.randbytes(32)
        + bytes((len(sid),))
        + sid
        + b"\x13\x01\x00"
        + struct.pack("!H", len(ext))
        + ext
    )
    hs = b"\x02" + len(hello).to_bytes(3, "big") + hello
    return _record(22, hs) + _record(20, b"\x01") + tls_app_data(rng, rng.randint(2200, 3900))


def tls_client_finish(rng: random.Random) -> bytes:
    """Client ChangeCipherSpec + encrypted Finished."""
    return _record(20, b"\x01") + tls_app_data(rng, 53)


def tls_app_data(rng: random.Random, size: int) -> bytes:
    """One application-data record of `size` opaque bytes."""
    return _record(23, rng.randbytes(size))


# --- MQTT 3.1.1 ------------------------------------------------------------------------


def _mqtt_len(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _mqtt_str(s: str) -> bytes:
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def mqtt_connect(client_id: str, keepalive: int = 60) -> bytes:
    body = (
        _mqtt_str("MQTT") + bytes((4, 0x02)) + struct.pack("!H", keepalive) + _mqtt_str(client_id)
    )
    return b"\x10" + _mqtt_len(len(body)) + body


def mqtt_connack() -> bytes:
    return b"\x20\x02\x00\x00"


def mqtt_publish(topic: str, payload: bytes) -> bytes:
    """QoS 0 PUBLISH."""
    body = _mqtt_str(topic) + payload
    return b"\x30" + _mqtt_len(len(body)) + body


def mqtt_pingreq() -> bytes:
    return b"\xc0\x00"


def mqtt_pingresp() -> bytes:
    return b"\xd0\x00"


def mqtt_disconnect() -> bytes:
    return b"\xe0\x00"


# --- RTSP / RTP / RTCP (camera streams to the video management system) ----------------


def rtsp_request(
    method: str,
    url: str,
    cseq: int,
    extra: tuple[tuple[str, str], ...] = (),
    agent: str = "Milestone XProtect RTSP client",
) -> bytes:
    lines = [f"{method} {url} RTSP/1.0", f"CSeq: {cseq}", f"User-Agent: {agent}"]
    lines += [f"{k}: {v}" for k, v in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def rtsp_response(
    cseq: int,
    extra: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
    content_type: str = "application/sdp",
) -> bytes:
    lines = ["RTSP/1.0 200 OK", f"CSeq: {cseq}"]
    lines += [f"{k}: {v}" for k, v in extra]
    if body:
        lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def sdp_h264(session_id: int, cam_ip: str, name: str) -> bytes:
    return (
        f"v=0\r\no=- {session_id} 1 IN IP4 {cam_ip}\r\ns={name}\r\nc=IN IP4 0.0.0.0\r\n"
        "t=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
        "a=fmtp:96 packetization-mode=1;profile-level-id=4d0029\r\n"
        "a=control:trackID=1\r\n"
    ).encode()


def rtp(seq: int, ts: int, ssrc: int, payload: bytes, marker: bool, pt: int = 96) -> bytes:
    return (
        struct.pack(
            "!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc
        )
        + payload
    )


def rtcp_sr(
    ssrc: int, ntp_sec: int, ntp_frac: int, rtp_ts: int, packets: int, octets: int, cname: str
) -> bytes:
    """Sender report + SDES CNAME compound packet."""
    sr = struct.pack(
        "!BBHIIIIII",
        0x80,
        200,
        6,
        ssrc,
        ntp_sec & 0xFFFFFFFF,
        ntp_frac,
        rtp_ts & 0xFFFFFFFF,
        packets,
        octets,
    )
    cn = cname.encode()
    item = b"\x01" + bytes((len(cn),)) + cn + b"\x00"
    item += bytes((-(len(item) + 4)) % 4)
    sdes = struct.pack("!BBHI", 0x81, 202, (len(item) + 4) // 4, ssrc) + item
    return sr + sdes


# --- OpenVPN (udp, no tls-auth) --------------------------------------------------------

OVPN_HARD_RESET_CLIENT_V2 = 7
OVPN_HARD_RESET_SERVER_V2 = 8
OVPN_CONTROL_V1 = 4
OVPN_ACK_V1 = 5
OVPN_DATA_V2 = 9


def openvpn_control(
    opcode: int,
    session: bytes,
    packet_id: int | None,
    acks: tuple[int, ...] = (),
    remote_session: bytes = b"",
    payload: bytes = b"",
) -> bytes:
    """P_CONTROL_* / P_ACK_V1 packet: session id, ACK array, message packet id, TLS bytes."""
    out = bytes((opcode << 3,)) + session + bytes((len(acks),))
    out += b"".join(struct.pack("!I", a) for a in acks)
    if acks:
        out += remote_session
    if packet_id is not None:
        out += struct.pack("!I", packet_id) + payload
    return out


def openvpn_data(peer_id: int, payload: bytes) -> bytes:
    """P_DATA_V2: opcode/key id, 24-bit peer id, encrypted payload."""
    return bytes((OVPN_DATA_V2 << 3,)) + peer_id.to_bytes(3, "big") + payload


# --- remote-access tools ---------------------------------------------------------------


def rfb_banner(version: str = "003.008") -> bytes:
    return f"RFB {version}\n".encode()


def rdp_connection_request(cookie_user: str) -> bytes:
    """TPKT + X.224 CR with the mstshash cookie and an RDP_NEG_REQ (TLS|CredSSP)."""
    cookie = f"Cookie: mstshash={cookie_user}\r\n".encode()
    neg = struct.pack("<BBHI", 1, 0, 8, 0x0000000B)
    x224 = b"\xe0" + struct.pack("!HHB", 0, 0, 0) + cookie + neg
    x224 = bytes((len(x224),)) + x224
    return struct.pack("!BBH", 3, 0, 4 + len(x224)) + x224


def rdp_connection_confirm() -> bytes:
    """TPKT + X.224 CC with RDP_NEG_RSP selecting CredSSP (HYBRID)."""
    neg = struct.pack("<BBHI", 2, 0x1F, 8, 2)
    x224 = b"\xd0" + struct.pack("!HHB", 0, 0x1234, 0) + neg
    x224 = bytes((len(x224),)) + x224
    return struct.pack("!BBH", 3, 0, 4 + len(x224)) + x224


def ssh_banner(software: str) -> bytes:
    return f"SSH-2.0-{software}\r\n".encode()


def ssh_kexinit(rng: random.Random) -> bytes:
    """SSH_MSG_KEXINIT in a binary packet (unencrypted, as the protocol sends it)."""

    def namelist(s: str) -> bytes:
        return struct.pack("!I", len(s)) + s.encode()

    payload = (
        b"\x14"
        + rng.randbytes(16)
        + namelist(
            "curve25519-sha256,curve25519-sha256@libssh.org,"
            "ecdh-sha2-nistp256,diffie-hellman-group14-sha256"
        )
        + namelist("ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256")
        + namelist("chacha20-poly1305@openssh.com,aes128-ctr,aes256-gcm@openssh.com") * 2
        + namelist("umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com") * 2
        + namelist("none,zlib@openssh.com") * 2
        + namelist("") * 2
        + b"\x00"
        + bytes(4)
    )
    pad = 8 - (len(payload) + 5) % 8
    pad = pad + 8 if pad < 4 else pad
    return struct.pack("!IB", len(payload) + pad + 1, pad) + payload + bytes(pad)


def teamviewer_frame(cmd: int, body: bytes) -> bytes:
    """TeamViewer TCP framing: magic 0x17 0x24, command byte, little-endian length."""
    return b"\x17\x24" + bytes((cmd,)) + struct.pack("<I", len(body)) + body


def ssh_packet(rng: random.Random, payload: bytes) -> bytes:
    """SSH binary packet (RFC 4253 6) before encryption: length, padding, payload."""
    pad = 8 - (len(payload) + 5) % 8
    pad = pad + 8 if pad < 4 else pad
    return struct.pack("!IB", len(payload) + pad + 1, pad) + payload + rng.randbytes(pad)


def rfb_server_init(width: int, height: int, name: str) -> bytes:
    """RFB ServerInit: framebuffer size, 32-bpp true-colour pixel format, desktop name."""
    fmt = struct.pack("!BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)
    nm = name.encode()
    return struct.pack("!HH", width, height) + fmt + struct.pack("!I", len(nm)) + nm


def _ssh_string(b: bytes) -> bytes:
    return struct.pack("!I", len(b)) + b


def ssh_ecdh_init(rng: random.Random) -> bytes:
    """SSH_MSG_KEX_ECDH_INIT (30) with the client's curve25519 public key."""
    return b"\x1e" + _ssh_string(rng.randbytes(32))


def ssh_ecdh_reply(rng: random.Random) -> bytes:
    """SSH_MSG_KEX_ECDH_REPLY (31): ed25519 host key, server key, signature."""
    host_key = _ssh_string(b"ssh-ed25519") + _ssh_string(rng.randbytes(32))
    sig = _ssh_string(b"ssh-ed25519") + _ssh_string(rng.randbytes(64))
    return b"\x1f" + _ssh_string(host_key) + _ssh_string(rng.randbytes(32)) + _ssh_string(sig)


def rfb_framebuffer_update(rng: random.Random, size: int) -> bytes:
    """RFB FramebufferUpdate with one raw-encoded 8-pixel-wide rectangle of ~`size` bytes."""
    h = max(1, size // 32)
    rect = struct.pack("!HHHHi", rng.randint(0, 1200), rng.randint(0, 700), 8, h, 0)
    return struct.pack("!BBH", 0, 0, 1) + rect + rng.randbytes(8 * h * 4)


def rfb_client_events(rng: random.Random) -> bytes:
    """What a viewer sends: a pointer event and an incremental update request."""
    return struct.pack(
        "!BBHH", 5, rng.choice((0, 1)), rng.randint(0, 1279), rng.randint(0, 799)
    ) + struct.pack("!BBHHHH", 3, 1, 0, 0, 1280, 800)
