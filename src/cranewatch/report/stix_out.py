"""Findings as a STIX 2.1 bundle, for threat-intelligence platforms and SIEMs.

Per finding: observed-data over the SCOs seen (mac-addr, ipv4/ipv6-addr, domain-name), an
indicator whose STIX pattern names only what is suspicious, and a sighting of that indicator
at the site (an identity) with first/last seen from the evidence. Why the pattern leaves the
inside asset out when there is a peer: a SIEM fires an indicator on every match, and the
site's own PLC or workstation would match all its normal traffic; the asset stays in the
observed-data and the sighting. Why deterministic ids (uuid5 of the finding's kind/asset/peer,
not its f-NNNN number which depends on ordering) and fixed created/modified times (taken from
the capture, not the clock): the same capture gives the same bundle, so a re-import updates
objects instead of duplicating them.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import stix2

from cranewatch.detect import _addr
from cranewatch.report.atomic import atomic_write

# Fixed namespace for cranewatch's own SDO ids (SCO ids are uuid5 per the STIX spec already).
NAMESPACE = uuid.UUID("6f1d3c1e-2b7a-5c4e-9a51-7c0d2e8b4f10")
MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_-]{1,63}\.?$"
)
# ATT&CK for ICS "Internet Accessible Device": the finding says a device can be reached from
# outside (a hidden cellular modem, a remote-access service answering the internet).
EXPOSED = "T0883"
# Severities worth a detection rule; below them (a declared modem talking to its cloud, remote
# access over a conduit, timing on an infrastructure port) an indicator would only add noise.
INDICATOR_SEVERITIES = ("critical", "high", "medium")


def _sid(kind: str, *parts: Any) -> str:
    return f"{kind}--{uuid.uuid5(NAMESPACE, '|'.join(str(p) for p in parts))}"


def _when(ts: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _asset_peer(finding: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    asset = finding.get("asset") if isinstance(finding.get("asset"), dict) else {}
    peer = finding.get("peer") if isinstance(finding.get("peer"), dict) else {}
    return asset, peer


def _mac(value: Any) -> str | None:
    mac = str(value or "").lower()
    return mac if MAC_RE.match(mac) else None


def _ip(value: Any) -> _addr.Address | None:
    return _addr.parse(str(value)) if value else None


def _domain(value: Any) -> str | None:
    name = str(value or "").lower().rstrip(".")
    return name if name and DOMAIN_RE.match(name) else None


def _ip_sco(addr: _addr.Address) -> Any:
    cls = stix2.IPv4Address if addr.version == 4 else stix2.IPv6Address
    return cls(value=str(addr))


def observables(finding: dict[str, Any]) -> list[Any]:
    """The SCOs a finding names; malformed values are left out, never raised on."""
    asset, peer = _asset_peer(finding)
    mac = _mac(asset.get("mac"))
    out: list[Any] = [stix2.MACAddress(value=mac)] if mac else []
    for ip in (_ip(asset.get("ip")), _ip(peer.get("ip"))):
        if ip is not None:
            out.append(_ip_sco(ip))
    name = _domain(peer.get("name"))
    if name:
        out.append(stix2.DomainName(value=name))
    seen: set[str] = set()
    return [o for o in out if not (o.id in seen or seen.add(o.id))]


def _any_of(terms: list[tuple[str, str]]) -> str | None:
    return " OR ".join(f"[{t}:value = '{_escape(v)}']" for t, v in terms) or None


def _ip_type(addr: _addr.Address) -> str:
    return f"ipv{addr.version}-addr"


def _between(inside: _addr.Address, peer: _addr.Address, port: Any) -> str:
    """Traffic between the asset and a peer that is not public: only that pair is out of place.

    Without a port the peer may be either end (the client of an internal remote session),
    so both directions match.
    """
    a, b = _escape(str(inside)), _escape(str(peer))
    if isinstance(port, int) and not isinstance(port, bool) and 0 <= port <= 65535:
        return (
            f"[network-traffic:src_ref.value = '{a}' AND network-traffic:dst_ref.value = '{b}'"
            f" AND network-traffic:dst_port = {port}]"
        )
    return " OR ".join(
        f"[network-traffic:src_ref.value = '{x}' AND network-traffic:dst_ref.value = '{y}']"
        for x, y in ((a, b), (b, a))
    )


def indicator_pattern(finding: dict[str, Any]) -> str | None:
    """What a SIEM should look for, or None when nothing can be matched without false alarms.

    With a peer: the peer alone when it is on the internet (its address and name), else the
    pair of site addresses. Without a peer the asset is the anomaly (an undeclared device, a
    rogue gateway): its MAC and address.
    """
    asset, peer = _asset_peer(finding)
    if not (peer.get("ip") or peer.get("name")):
        ip = _ip(asset.get("ip"))
        mac = _mac(asset.get("mac"))
        return _any_of(
            ([("mac-addr", mac)] if mac else []) + ([(_ip_type(ip), str(ip))] if ip else [])
        )
    peer_ip, name = _ip(peer.get("ip")), _domain(peer.get("name"))
    if peer_ip is not None and not _addr.is_public(str(peer_ip)):
        inside = _ip(asset.get("ip"))
        return _between(inside, peer_ip, peer.get("port")) if inside is not None else None
    return _any_of(
        ([(_ip_type(peer_ip), str(peer_ip))] if peer_ip else [])
        + ([("domain-name", name)] if name else [])
    )


def indicator_types(finding: dict[str, Any]) -> list[str]:
    """Say "compromised" only where the finding says a device is reachable from outside."""
    exposed = EXPOSED in (finding.get("attack_ics") or [])
    if exposed and finding.get("severity") in ("critical", "high"):
        return ["anomalous-activity", "compromised"]
    return ["anomalous-activity"]


def _where(finding: dict[str, Any]) -> str:
    """The inside asset and the peer in words: kept out of the pattern, not out of the bundle."""
    asset, peer = _asset_peer(finding)
    mac = f" ({asset['mac']})" if asset.get("mac") else ""
    text = f"on {asset.get('ip') or 'an asset'}{mac}" if asset.get("ip") or mac else "on the site"
    if peer.get("ip") or peer.get("name"):
        where = ":".join(
            str(v) for v in (peer.get("ip") or peer.get("name"), peer.get("port")) if v
        )
        named = peer.get("ip") and peer.get("name")
        text += f", peer {where}" + (f" ({peer['name']})" if named else "")
    return text


def _span(finding: dict[str, Any], default: datetime) -> tuple[datetime, datetime, int]:
    evidence = [e for e in finding.get("evidence") or [] if isinstance(e, dict)]
    times = sorted(t for t in (_when(e.get("ts")) for e in evidence) if t is not None)
    if not times:
        return default, default, max(1, len(evidence))
    return times[0], times[-1], max(1, len(evidence))


def _doc_time(doc: dict[str, Any]) -> datetime:
    """The end of the capture: the created/modified time of every object (not the clock)."""
    stamps = [i.get("last_ts") for i in doc.get("inputs") or [] if isinstance(i, dict)]
    for f in doc.get("findings") or []:
        stamps += [e.get("ts") for e in f.get("evidence") or [] if isinstance(e, dict)]
    times = [t for t in (_when(s) for s in stamps) if t is not None]
    return max(times) if times else datetime(1970, 1, 1, tzinfo=UTC)


def _finding_key(site: str, f: dict[str, Any]) -> tuple:
    asset, peer = _asset_peer(f)
    return (
        site,
        f.get("kind"),
        asset.get("mac"),
        asset.get("ip"),
        peer.get("ip"),
        peer.get("port"),
    )


def _refs(f: dict[str, Any]) -> list[dict[str, str]]:
    refs = [{"source_name": "cranewatch", "external_id": str(f.get("id", ""))}]
    for t in f.get("attack_ics") or []:
        refs.append(
            {
                "source_name": "mitre-ics-attack",
                "external_id": str(t),
                "url": f"https://attack.mitre.org/techniques/{t}/",
            }
        )
    return refs


def _labels(f: dict[str, Any]) -> list[str]:
    return [str(f.get("kind")), f"severity:{f.get('severity')}"]


def _note(f: dict[str, Any], key: tuple, refs: list[str], common: dict[str, Any]) -> Any:
    """A finding kept for the record but no detection rule: too mild, or nothing to match."""
    title = str(f.get("title") or f.get("kind") or "cranewatch finding")
    return stix2.Note(
        id=_sid("note", "note", *key),
        content=title if len(refs) < 2 else f"{title}\n{_where(f)}; severity {f.get('severity')}",
        abstract=str(f.get("kind", "")),
        object_refs=refs,
        labels=_labels(f),
        external_references=_refs(f),
        **common,
    )


def _confidence(f: dict[str, Any]) -> dict[str, int]:
    confidence = f.get("confidence")
    if isinstance(confidence, int | float) and 0 <= confidence <= 1:
        return {"confidence": round(float(confidence) * 100)}
    return {}


def finding_objects(f: dict[str, Any], site_ref: str, site: str, when: datetime) -> list[Any]:
    """SCOs, observed-data, indicator and sighting for one finding.

    A low or info finding, or one whose peer cannot be matched without the site's own
    addresses, gets a note on the observed-data instead of an indicator and sighting.
    """
    key = _finding_key(site, f)
    first, last, count = _span(f, when)
    common = {"created": when, "modified": when, "created_by_ref": site_ref}
    scos = observables(f)
    if not scos:
        return [_note(f, key, [site_ref], common)]
    observed = stix2.ObservedData(
        id=_sid("observed-data", "observed", *key),
        first_observed=first,
        last_observed=last,
        number_observed=count,
        object_refs=[o.id for o in scos],
        **common,
    )
    pattern = indicator_pattern(f) if f.get("severity") in INDICATOR_SEVERITIES else None
    if pattern is None:
        return [*scos, observed, _note(f, key, [observed.id, site_ref], common)]
    indicator = stix2.Indicator(
        id=_sid("indicator", "indicator", *key),
        name=str(f.get("title") or f.get("kind") or "cranewatch finding"),
        description=f"cranewatch {f.get('kind')} finding, severity {f.get('severity')}, "
        + _where(f),
        indicator_types=indicator_types(f),
        pattern=pattern,
        pattern_type="stix",
        valid_from=first,
        labels=_labels(f),
        external_references=_refs(f),
        **common,
        **_confidence(f),
    )
    sighting = stix2.Sighting(
        id=_sid("sighting", "sighting", *key),
        sighting_of_ref=indicator.id,
        observed_data_refs=[observed.id],
        where_sighted_refs=[site_ref],
        description=f"Seen {_where(f)}",
        first_seen=first,
        last_seen=last if last > first else None,
        count=count,
        **common,
    )
    return [*scos, observed, indicator, sighting]


def stix_bundle(doc: dict[str, Any]) -> stix2.Bundle:
    """The whole findings document as one STIX 2.1 bundle (same input, same bundle)."""
    site = str(doc.get("site") or "unnamed site")
    when = _doc_time(doc)
    identity = stix2.Identity(
        id=_sid("identity", "site", site),
        name=site,
        identity_class="organization",
        created=when,
        modified=when,
        description="Site monitored by cranewatch (passive capture)",
    )
    objects: dict[str, Any] = {identity.id: identity}
    for f in doc.get("findings") or []:
        if isinstance(f, dict):
            for obj in finding_objects(f, identity.id, site, when):
                objects.setdefault(obj.id, obj)
    bundle_id = _sid("bundle", "bundle", *objects)
    return stix2.Bundle(objects=list(objects.values()), id=bundle_id)


def write_stix(doc: dict[str, Any], path: str | Path) -> Path:
    """Write the bundle as JSON, atomically."""
    path = Path(path)
    atomic_write(path, stix_bundle(doc).serialize(pretty=True) + "\n")
    return path
