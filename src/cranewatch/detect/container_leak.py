"""container-data-leak: container numbers or EDIFACT container messages leaving their allowed place.

payload_scan reports packets carrying ISO 6346 numbers with a valid check digit
(a wrong check digit is no container number) or EDIFACT container messages
(BAPLIE, COPRAR, CODECO, COARRI, COPARN ... and EQD+CN segments), in cleartext
payloads, HTTP, MQTT and DNS query labels. Such data may go only to the zones,
assets or CIDRs listed in the site's `container_data_to`; without a site file,
to anything but a public address.

DNS is special: the resolver forwards the name to the internet, so a container
number in a query label leaks even when the resolver itself is inside, unless
the resolver is an allowed receiver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cranewatch.detect import _addr
from cranewatch.detect._common import finding
from cranewatch.detect.context import DetectContext
from cranewatch.detect.model import Evidence, Finding

KIND = "container-data-leak"
QUOTE = 3


@dataclass
class Leak:
    sender_mac: str | None
    sender_ip: str | None
    receiver_ip: str | None
    receiver_port: int | None
    numbers: dict[str, float] = field(default_factory=dict)  # number -> first ts
    edifact: dict[str, float] = field(default_factory=dict)  # message type -> first ts
    where: set[str] = field(default_factory=set)
    packets: int = 0
    first_ts: float = float("inf")
    public: bool = False


def _allowed(ctx: DetectContext, ip: str | None, mac: str | None) -> bool:
    if ctx.site is not None:
        return bool(ctx.site.container_data_allowed(ip, mac)) if ip else False
    return not _addr.is_public(ip)


def _leaves(ctx: DetectContext, e: Any, where: str) -> bool:
    """Whether this packet takes container data somewhere it may not go."""
    if where == "dns":
        # The resolver passes query names on to the internet: only an explicitly
        # allowed resolver keeps them in.
        return not (
            ctx.site is not None
            and e.dst_ip
            and ctx.site.container_data_allowed(e.dst_ip, e.dst_mac)
        )
    return not _allowed(ctx, e.dst_ip, e.dst_mac)


def detect(ctx: DetectContext) -> list[Finding]:
    leaks: dict[tuple, Leak] = {}
    for e in ctx.events:
        if e.proto != "container-ids":
            continue
        where = str(e.fields.get("where") or "payload")
        if _addr.is_group(e.dst_ip):
            continue  # multicast (mDNS, SSDP) stays on the link
        if not _leaves(ctx, e, where):
            continue
        key = (e.src_mac, e.src_ip, e.dst_ip, e.dport or None)
        leak = leaks.get(key)
        if leak is None:
            leak = leaks[key] = Leak(e.src_mac, e.src_ip, e.dst_ip, e.dport or None)
        leak.public = leak.public or _addr.is_public(e.dst_ip) or where == "dns"
        for n in e.fields.get("iso6346") or []:
            leak.numbers.setdefault(str(n), e.ts)
        for m in e.fields.get("edifact") or []:
            leak.edifact.setdefault(str(m), e.ts)
        leak.where.add(where)
        leak.packets += int(e.fields.get("count") or 1)  # a kept event may stand for repeats
        leak.first_ts = min(leak.first_ts, e.ts)
    return [_finding(ctx, leak) for leak in leaks.values() if leak.numbers or leak.edifact]


def _finding(ctx: DetectContext, leak: Leak) -> Finding:
    via = "/".join(sorted(leak.where)).upper()
    dest = (
        f"{leak.receiver_ip}:{leak.receiver_port}" if leak.receiver_port else str(leak.receiver_ip)
    )
    evidence = []
    if leak.numbers:
        first = sorted(leak.numbers, key=leak.numbers.get)[:QUOTE]
        more = (
            f" and {len(leak.numbers) - len(first)} more" if len(leak.numbers) > len(first) else ""
        )
        evidence.append(
            Evidence(
                leak.numbers[first[0]],
                f"{len(leak.numbers)} container number(s) with valid ISO 6346 check digit "
                f"sent over {via} to {dest}: {', '.join(first)}{more}",
            )
        )
    for msg, ts in sorted(leak.edifact.items(), key=lambda kv: kv[1])[:QUOTE]:
        evidence.append(Evidence(ts, f"EDIFACT {msg} container message sent to {dest}"))
    evidence.append(Evidence(leak.first_ts, f"{leak.packets} packet(s) carried container data"))
    rule = "outside container_data_to" if ctx.site is not None else "to a public address"
    title = f"Container data from {leak.sender_ip or leak.sender_mac} to {dest} ({rule})"
    severity = "high" if leak.public else "medium"
    confidence = 0.95 if leak.numbers and len(leak.numbers) > 1 or leak.edifact else 0.8
    return finding(
        ctx,
        KIND,
        severity,
        confidence,
        title,
        evidence,
        asset_mac=leak.sender_mac,
        asset_ip=leak.sender_ip,
        peer_ip=leak.receiver_ip,
        peer_port=leak.receiver_port,
    )
