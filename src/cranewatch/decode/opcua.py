"""OPC UA binary (UA TCP, tcp 4840 or any port by message header): who is who.

Cheap facts only:
- Hello: the endpoint URL the client dials (names the server: `server_name`);
- OpenSecureChannel: the security policy URI (#None means cleartext);
- MSG: the service type id; for the few services that carry an
  ApplicationDescription in clear (CreateSession, GetEndpoints, FindServers)
  the ApplicationUri/ProductUri/ApplicationName, found by a validated scan
  rather than a full decode of the body: a URI String, then a String, then a
  LocalizedText, then an ApplicationType enum 0..3.
CreateSession requests describe the client, GetEndpoints/CreateSession
responses the server; both are the packet source. FindServers answers list
other servers too, so they give `applications` but no identity.
Little-endian; Strings are an int32 length (-1 = null) then UTF-8 bytes.
"""

from __future__ import annotations

import re
import struct

from cranewatch.decode.select import Selector

SELECT = Selector(
    l4="tcp", ports=(4840,), prefixes=(b"HELF", b"ACKF", b"OPNF", b"MSGF"), per_flow=16
)

_MAX_STRING = 4096
_MAX_APPS = 8
_URI = re.compile(rb"urn:|https?://|opc\.tcp://")
# Service type ids (binary encoding node ids, OPC UA Part 6 NodeIds.csv).
_SERVICES = {
    422: "find_servers_request",
    425: "find_servers_response",
    428: "get_endpoints_request",
    431: "get_endpoints_response",
    446: "open_secure_channel_request",
    449: "open_secure_channel_response",
    461: "create_session_request",
    464: "create_session_response",
    467: "activate_session_request",
    470: "activate_session_response",
    473: "close_session_request",
    527: "browse_request",
    530: "browse_response",
    631: "read_request",
    634: "read_response",
    673: "write_request",
    676: "write_response",
    712: "call_request",
    787: "create_subscription_request",
    826: "publish_request",
    829: "publish_response",
}
_SELF_DESCRIBING = {461, 464, 431}
_APP_TYPES = {0: "server", 1: "client", 2: "client_and_server", 3: "discovery_server"}


def parse(data: bytes) -> dict | None:
    """UA TCP message header plus the cheap facts above; None when not UA TCP."""
    try:
        return _parse(bytes(data))
    except (struct.error, IndexError, ValueError):
        return None


def _parse(data: bytes) -> dict | None:
    if len(data) < 8 or data[3:4] not in (b"F", b"C", b"A"):
        return None
    kind = data[:3]
    if kind not in (b"HEL", b"ACK", b"OPN", b"MSG", b"CLO", b"ERR", b"RHE"):
        return None
    out: dict = {"message": kind.decode().lower(), "chunk": chr(data[3])}
    if kind == b"HEL":
        url, _ = _string(data, 28)
        if url:
            out["endpoint_url"] = url
            host = _host(url)
            if host:
                out["server_name"] = host
    elif kind == b"OPN":
        policy, _ = _string(data, 12)
        if policy:
            out["security_policy"] = policy.rsplit("#", 1)[-1]
    elif kind == b"MSG" and len(data) >= 27 and data[24] == 0x01 and data[25] == 0:
        type_id = struct.unpack_from("<H", data, 26)[0]
        out["service_type"] = _SERVICES.get(type_id, str(type_id))
        if type_id in _SELF_DESCRIBING or type_id == 425:
            _applications(data, 28, type_id, out)
    return out


def _string(data: bytes, off: int) -> tuple[str | None, int]:
    """An OPC UA String at `off`: (text or None for null, offset after it)."""
    length = struct.unpack_from("<i", data, off)[0]
    if length < 0:
        return None, off + 4
    if length > _MAX_STRING or off + 4 + length > len(data):
        raise ValueError("string out of bounds")
    return data[off + 4 : off + 4 + length].decode("utf-8", errors="replace"), off + 4 + length


def _host(url: str) -> str | None:
    """Host part of 'opc.tcp://host:port/path' (IPv6 literals in brackets)."""
    rest = url.split("://", 1)[-1].split("/", 1)[0]
    if rest.startswith("["):
        return rest[1:].split("]", 1)[0] or None
    return rest.rsplit(":", 1)[0] if ":" in rest else rest or None


def _applications(data: bytes, start: int, type_id: int, out: dict) -> None:
    """ApplicationDescriptions found by the validated scan; identity for self-descriptions."""
    apps: list[dict] = []
    for match in _URI.finditer(data, start):
        app = _application_at(data, match.start() - 4)
        if app and app not in apps:
            apps.append(app)
            if len(apps) >= _MAX_APPS:
                break
    if not apps:
        return
    out["applications"] = apps
    if type_id not in _SELF_DESCRIBING:
        # a discovery server lists servers it knows: kept on it, labelled as such
        known = [a["application_uri"] for a in apps if a.get("application_uri")]
        if known:
            out["identity"] = {"opcua_known_applications": known}
        return
    if type_id in _SELF_DESCRIBING:
        first = apps[0]
        identity = {"application_uri": first["application_uri"]}
        if first.get("product_uri"):
            identity["product_uri"] = first["product_uri"]
        if first.get("application_name"):
            identity["product"] = first["application_name"]
        out["identity"] = identity


def _application_at(data: bytes, off: int) -> dict | None:
    """ApplicationUri, ProductUri, ApplicationName, ApplicationType at `off`, or None."""
    if off < 0:
        return None
    try:
        app_uri, off = _string(data, off)
        product_uri, off = _string(data, off)
        mask = data[off]
        if mask & ~0x03:
            return None
        off += 1
        name = None
        if mask & 0x01:
            _locale, off = _string(data, off)
        if mask & 0x02:
            name, off = _string(data, off)
        app_type = struct.unpack_from("<I", data, off)[0]
    except (struct.error, IndexError, ValueError):
        return None
    if not app_uri or app_type not in _APP_TYPES:
        return None
    app = {"application_uri": app_uri, "application_type": _APP_TYPES[app_type]}
    if product_uri:
        app["product_uri"] = product_uri
    if name:
        app["application_name"] = name
    return app
