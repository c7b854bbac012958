"""Multicast DNS (RFC 6762/6763): the names and services a host announces.

mDNS uses the DNS wire format, so the bounded reader of `dns.py` does the
work; this module only picks the announcing host's own name (its A/AAAA or
reverse PTR records under `.local`), the DNS-SD service types it offers and a
model string from TXT keys such as `md=` (AirPlay, Chromecast) or `model=`.
"""

from __future__ import annotations

from cranewatch.decode import dns
from cranewatch.decode.select import Selector

SELECT = Selector(l4="udp", ports=(5353,), per_flow=16)

MAX_SERVICES = 16
MODEL_KEYS = ("md", "model", "usb_mdl", "ty")


def _local_host(name: str) -> str | None:
    """'Lucas-iMac.local' -> 'Lucas-iMac'; None for names outside .local."""
    low = name.lower().rstrip(".")
    if not low.endswith(".local") or low.startswith("_"):
        return None
    host = name.rstrip(".")[: -len(".local")]
    return host if host and "." not in host else None


def _model_from_txt(strings: list[str]) -> str | None:
    for text in strings:
        key, sep, value = text.partition("=")
        if sep and key.lower() in MODEL_KEYS and value.strip():
            return value.strip()
    return None


def _service_type(name: str) -> str | None:
    """'_ipp._tcp.local' or 'X._ipp._tcp.local' -> '_ipp._tcp'."""
    labels = name.rstrip(".").split(".")
    for i in range(len(labels) - 1):
        if labels[i].startswith("_") and labels[i + 1].lower() in ("_tcp", "_udp"):
            return f"{labels[i]}.{labels[i + 1]}"
    return None


def _facts(buf: bytes, msg: dns.Message) -> tuple[str | None, str | None, list[str]]:
    """(hostname, model, service types) from a message's records.

    A query's answer section holds known answers about *other* hosts, so for
    queries only the authority section (a probe for the host's own names) counts.
    """
    hostname = model = None
    reverse = srv_target = None
    services: list[str] = []
    for rec in msg.records:
        if not msg.qr and rec.section != "authority":
            continue
        if rec.rtype in (1, 28) and hostname is None:
            hostname = _local_host(rec.name)
        elif rec.rtype == 12:
            value = dns.rdata_value(buf, rec) or ""
            if rec.name.lower().endswith((".in-addr.arpa", ".ip6.arpa")):
                reverse = reverse or _local_host(value)
            for cand in (rec.name, value):
                stype = _service_type(cand)
                if stype and stype not in services and len(services) < MAX_SERVICES:
                    services.append(stype)
        elif rec.rtype == 33:
            target = (dns.rdata_value(buf, rec) or "").rpartition(":")[0]
            srv_target = srv_target or _local_host(target)
        elif rec.rtype == 16 and model is None:
            model = _model_from_txt(dns.txt_strings(buf, rec))
    return hostname or reverse or srv_target, model, services


def parse(data: bytes) -> dict | None:
    """mDNS message: DNS fields plus identity {hostname, model} and service types."""
    try:
        buf = bytes(data)
        msg = dns.parse_message(buf)
        if msg is None or (not msg.questions and not msg.records):
            return None
        out = dns.summarize(buf, msg)
        hostname, model, services = _facts(buf, msg)
        identity = {k: v for k, v in (("hostname", hostname), ("model", model)) if v}
        if identity:
            out["identity"] = identity
            out["subject"] = "src"
        if services:
            out["services"] = services
        return out
    except Exception:  # a parser must never raise on hostile bytes
        return None
