"""Findings as a STIX 2.1 bundle, for threat-intelligence platforms and SIEMs.

Per finding: observed-data over the SCOs seen (mac-addr, ipv4/ipv6-addr, domain-name), an
indicator whose STIX pattern matches any of them, and a sighting of that indicator at the
site (an identity) with first/last seen from the evidence. Why deterministic ids (uuid5 of
the finding's kind/asset/peer, not its f-NNNN number which depends on ordering) and fixed
created/modified times (taken from the capture, not the clock): the same capture gives the
same bundle, so a re-import updates objects instead of duplicating them.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import stix2

from cranewatch.report.atomic import atomic_write

# Fixed namespace for cranewatch's own SDO ids (SCO ids are uuid5 per the STIX spec already).
NAMESPACE = uuid.UUID("6f1d3c1e-2b7a-5c4e-9a51-7c0d2e8b4f10")
MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_-]{1,63}\.?$"
)
INDICATOR_TYPES = {
    "cellular-modem": ["anomalous-activity", "compromised"],
    "rogue-gateway": ["anomalous-activity"],
    "remote-access": ["anomalous-activity"],
    "container-data-leak": ["anomalous-activity"],
    "beaconing": ["anomalous-activity", "malicious-activity"],
    "policy-violation": ["anomalous-activity"],
    "undeclared-device": ["unknown"],
}


def _sid(kind: str, *parts: Any) -> str:
    return f"{kind}--{uuid.uuid5(NAMESPACE, '|'.join(str(p) for p in parts))}"


def _when(ts: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def observables(finding: dict[str, Any]) -> list[Any]:
    """The SCOs a finding names; malformed values are left out, never raised on."""
    out: list[Any] = []
    asset = finding.get("asset") if isinstance(finding.get("asset"), dict) else {}
    peer = finding.get("peer") if isinstance(finding.get("peer"), dict) else {}
    mac = str(asset.get("mac") or "").lower()
    if MAC_RE.match(mac):
        out.append(stix2.MACAddress(value=mac))
    for ip in (asset.get("ip"), peer.get("ip")):
        try:
            addr = ipaddress.ip_address(str(ip))
        except ValueError:
            continue
        cls = stix2.IPv4Address if addr.version == 4 else stix2.IPv6Address
        out.append(cls(value=str(addr)))
    name = str(peer.get("name") or "").lower().rstrip(".")
    if name and DOMAIN_RE.match(name):
        out.append(stix2.DomainName(value=name))
    seen: set[str] = set()
    return [o for o in out if not (o.id in seen or seen.add(o.id))]


def pattern(scos: list[Any]) -> str:
    """A STIX pattern matching any of the finding's addresses or names."""
    return " OR ".join(f"[{o.type}:value = '{_escape(o.value)}']" for o in scos)


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
    asset = f.get("asset") if isinstance(f.get("asset"), dict) else {}
    peer = f.get("peer") if isinstance(f.get("peer"), dict) else {}
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


def finding_objects(f: dict[str, Any], site_ref: str, site: str, when: datetime) -> list[Any]:
    """SCOs, observed-data, indicator and sighting for one finding (a note if it names none)."""
    key = _finding_key(site, f)
    first, last, count = _span(f, when)
    common = {"created": when, "modified": when, "created_by_ref": site_ref}
    title = str(f.get("title") or f.get("kind") or "cranewatch finding")
    scos = observables(f)
    if not scos:
        return [
            stix2.Note(
                id=_sid("note", "note", *key),
                content=title,
                abstract=str(f.get("kind", "")),
                object_refs=[site_ref],
                external_references=_refs(f),
                **common,
            )
        ]
    confidence = f.get("confidence")
    extra = (
        {"confidence": round(float(confidence) * 100)}
        if isinstance(confidence, int | float) and 0 <= confidence <= 1
        else {}
    )
    observed = stix2.ObservedData(
        id=_sid("observed-data", "observed", *key),
        first_observed=first,
        last_observed=last,
        number_observed=count,
        object_refs=[o.id for o in scos],
        **common,
    )
    indicator = stix2.Indicator(
        id=_sid("indicator", "indicator", *key),
        name=title,
        description=f"cranewatch {f.get('kind')} finding, severity {f.get('severity')}",
        indicator_types=INDICATOR_TYPES.get(str(f.get("kind")), ["anomalous-activity"]),
        pattern=pattern(scos),
        pattern_type="stix",
        valid_from=first,
        labels=[str(f.get("kind")), f"severity:{f.get('severity')}"],
        external_references=_refs(f),
        **common,
        **extra,
    )
    sighting = stix2.Sighting(
        id=_sid("sighting", "sighting", *key),
        sighting_of_ref=indicator.id,
        observed_data_refs=[observed.id],
        where_sighted_refs=[site_ref],
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
