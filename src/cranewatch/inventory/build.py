"""Turn streaming host counters, flows and parser events into the asset inventory.

One asset per unicast MAC seen sending on the captured segment. A MAC that
sends with many IP addresses is forwarding for them (a router): it keeps only
the addresses it is bound to (ARP, DHCP), and private or in-site addresses
behind it become assets of their own, without a MAC. Public addresses behind a
router are peers, not assets.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from functools import cache
from importlib.resources import files

import numpy as np

from cranewatch.decode.addr import mac_int, mac_str
from cranewatch.decode.events import Event
from cranewatch.inventory.model import Asset, Flow, ip_key, pair_key
from cranewatch.inventory.services import service_for_port
from cranewatch.knowledge import load

# A MAC that sends with more distinct IPs than this is taken as a router.
ROUTER_MIN_IPS = 3
_UNSPECIFIED = {"0.0.0.0", "::"}


@cache
def _oui_index() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """netaddr's IEEE MA-L index (oui.idx rows: OUI, offset, size in oui.txt), sorted by OUI.

    Why not `netaddr.EUI(mac).oui`: its first use parses both shipped indexes
    (OUI and IAB) row by row with the csv module, ~0.1 s of every run; numpy
    reads the one needed here in a few ms. The registry files are netaddr's.
    """
    text = files("netaddr.eui").joinpath("oui.idx").read_text(encoding="ascii")
    rows = np.fromstring(text.replace("\n", ","), dtype=np.int64, sep=",")
    rows = rows[: len(rows) // 3 * 3].reshape(-1, 3)
    order = np.argsort(rows[:, 0], kind="stable")  # first record of an OUI first, as netaddr
    return rows[order, 0], rows[order, 1], rows[order, 2]


@cache
def oui_vendor(mac: str) -> str | None:
    """The IEEE registry organisation for a MAC (netaddr ships the registry).

    The same answer as `netaddr.EUI(mac).oui.registration().org` (the text after
    '(hex)' on the record's first line) less a trailing comma, which some
    registry entries carry ("Siemens AG,") and a report should not.
    """
    try:
        oui = mac_int(mac) >> 24
    except ValueError:
        return None
    keys, offsets, sizes = _oui_index()
    i = int(np.searchsorted(keys, oui))
    if i >= len(keys) or int(keys[i]) != oui:
        return None
    with files("netaddr.eui").joinpath("oui.txt").open("rb") as fh:
        fh.seek(int(offsets[i]))
        record = fh.read(int(sizes[i])).decode("utf-8", "replace")
    org = ""
    for line in record.split("\n"):
        if "(hex)" in line:
            parts = line.strip().split(None, 2)
            if len(parts) < 3:
                return None
            org = parts[2].rstrip(", ")
    return org


def is_locally_administered(mac: int) -> bool:
    return bool((mac >> 40) & 0x02)


def _is_unicast(mac: int) -> bool:
    return mac != 0 and not (mac >> 40) & 0x01


# Address space a site uses for its own hosts. Documentation ranges and CGNAT
# space are "not global" to Python's ipaddress, but behind a router they are the
# outside world (a simulator's internet, a carrier's network), not assets.
_LOCAL_NETS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
    )
)


@cache
def _local_space(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    return any(addr.version == net.version and addr in net for net in _LOCAL_NETS)


def name_flows(flows: list[Flow], events: list[Event]) -> None:
    """Give flows a service (parser or port) and a responder name (SNI, Host, DNS).

    An event that stands for repeats (`fields['count']` > 1: dispatch kept one
    DNS question for all the times a client asked it) labels every flow it
    stands for - same addresses, same service port - as each repeat's own
    event did, in the same order of precedence.
    """
    index = {_flow_key(f.proto, f.orig_ip, f.orig_port, f.resp_ip, f.resp_port): f for f in flows}
    folded = _flows_by_pair(f for f in flows if f.connections > 1)  # see inventory/fold.py
    by_pair: dict[tuple, list[Flow]] | None = None
    broadcast: set[tuple] = set()
    dns_names: dict[str, str] = {}
    for ev in events:
        for pair in ev.fields.get("names") or ():
            if len(pair) == 2 and pair[0] and pair[1]:
                dns_names.setdefault(str(pair[1]), str(pair[0]))
        if ev.src_ip is None or ev.l4 is None:
            continue
        proto = 6 if ev.l4 == "tcp" else 17
        service = ev.fields.get("service") or ev.proto
        flow = index.get(_flow_key(proto, ev.src_ip, ev.sport, ev.dst_ip, ev.dport))
        if flow is not None:
            targets = [flow]
        else:
            targets = folded.get(pair_key(proto, ev.src_ip, ev.sport, ev.dst_ip, ev.dport), [])
        server_name = ev.fields.get("server_name")
        if (ev.fields.get("count") or 1) > 1 and ev.proto != "container-ids":
            if by_pair is None:
                by_pair = _flows_by_pair(flows)
            key = pair_key(proto, ev.src_ip, ev.sport, ev.dst_ip, ev.dport)
            if (service, key) not in broadcast:
                broadcast.add((service, key))
                for other in by_pair.get(key, ()):
                    if other.service is None:
                        other.service = service
                    if server_name and other.name is None:
                        other.name = str(server_name)
        for flow in targets:
            if flow.service is None and ev.proto != "container-ids":
                flow.service = service
            if server_name and flow.name is None:
                flow.name = str(server_name)
    for flow in flows:
        if flow.service is None and flow.proto in (6, 17):
            flow.service = service_for_port(flow.l4, flow.resp_port) or service_for_port(
                flow.l4, flow.orig_port
            )
        if flow.name is None:
            flow.name = dns_names.get(flow.resp_ip)


def _flows_by_pair(flows: Iterable[Flow]) -> dict[tuple, list[Flow]]:
    out: dict[tuple, list[Flow]] = defaultdict(list)
    for f in flows:
        out[pair_key(f.proto, f.orig_ip, f.orig_port, f.resp_ip, f.resp_port)].append(f)
    return out


def _flow_key(proto: int, a_ip: str, a_port: int, b_ip: str | None, b_port: int) -> tuple:
    ends = sorted([(a_ip, a_port), (b_ip or "", b_port)])
    return (proto, *ends[0], *ends[1])


def build_assets(hosts, flows: list[Flow], events: list[Event], site=None) -> list[Asset]:
    """The inventory: assets with vendors, addresses, names, identities, reconciled with the site."""
    bound = _bound_addresses(events)
    assets_by_mac: dict[str, Asset] = {}
    owner_of_ip: dict[str, Asset] = {}
    forwarded: dict[str, str] = {}
    ips_of_mac: dict[int, list[str]] = defaultdict(list)
    for (mac, ip), _pair in hosts.mac_ips().items():
        if ip not in _UNSPECIFIED:
            ips_of_mac[mac].append(ip)
    for mac, stats in hosts.macs().items():
        if not _is_unicast(mac):
            continue
        text = mac_str(mac)
        asset = assets_by_mac[text] = _mac_asset(mac, text, stats)
        ips = ips_of_mac.get(mac, [])
        asset.router = len(ips) >= ROUTER_MIN_IPS
        own = set(bound.get(text, ())) | (_originated(text, flows) if asset.router else set())
        for ip in ips:
            if not asset.router or ip in own:
                _own(asset, ip, owner_of_ip)
            else:
                forwarded.setdefault(ip, text)
    for mac_text, ips in bound.items():
        asset = assets_by_mac.get(mac_text)
        if asset is not None:
            for ip in ips:
                _own(asset, ip, owner_of_ip)
    ip_assets = _ip_only_assets(hosts, flows, forwarded, owner_of_ip, site)
    _apply_events(events, assets_by_mac, owner_of_ip)
    assets = list(assets_by_mac.values()) + ip_assets
    _apply_flow_services(flows, owner_of_ip)
    if site is not None:
        _reconcile(assets, site)
    return _numbered(assets)


def _mac_asset(mac: int, text: str, stats) -> Asset:
    local = is_locally_administered(mac)
    asset = Asset(
        id="", mac=text, vendor=None if local else oui_vendor(text), locally_administered=local
    )
    if stats is not None:
        asset.first_seen, asset.last_seen = stats.first_ts, stats.last_ts
        asset.packets = stats.pkts_sent + stats.pkts_recv
        asset.bytes = stats.bytes_sent + stats.bytes_recv
    return asset


def _own(asset: Asset, ip: str, owner_of_ip: dict[str, Asset]) -> None:
    if ip in _UNSPECIFIED or ip in asset.ips:
        return
    asset.ips.append(ip)
    owner_of_ip.setdefault(ip, asset)


def _originated(mac: str, flows: list[Flow]) -> set[str]:
    """IPs a router MAC sends from itself: their packets carry an initial TTL.

    A packet that still carries one (knowledge/initial_ttls.yaml) was sent by
    the MAC that put it on this segment, not forwarded by it.
    """
    ttls: dict[str, int] = defaultdict(int)
    for flow in flows:
        if flow.orig_mac == mac:
            ttls[flow.orig_ip] = max(ttls[flow.orig_ip], flow.orig_ttl)
        if flow.resp_mac == mac:
            ttls[flow.resp_ip] = max(ttls[flow.resp_ip], flow.resp_ttl)
    initial = set(load().initial_ttls)
    return {ip for ip, ttl in ttls.items() if ttl in initial}


def _bound_addresses(events: Iterable[Event]) -> dict[str, dict[str, None]]:
    """MAC -> IPs it claims itself: ARP senders, DHCP acks, DHCP servers' own ids.

    The IPs are dict keys, in the order claimed: a set's order changes with
    Python's string hashing, which made an asset's address list (and its first
    address) differ from one run to the next.
    """
    bound: dict[str, dict[str, None]] = defaultdict(dict)
    for ev in events:
        f = ev.fields
        if ev.proto == "arp" and f.get("subject_mac") and f.get("subject_ip"):
            bound[str(f["subject_mac"]).lower()][str(f["subject_ip"])] = None
        elif (
            ev.proto == "dhcp"
            and f.get("msg_type") == "ack"
            and f.get("chaddr")
            and f.get("yiaddr")
        ):
            bound[str(f["chaddr"]).lower()][str(f["yiaddr"])] = None
        # a DHCP server's own id, unless the packet is a relay's copy
        own_server_id = f.get("server_id") and f.get("server_id") == ev.src_ip
        if ev.proto == "dhcp" and f.get("dhcp_server") and ev.src_mac and own_server_id:
            bound[ev.src_mac][str(f["server_id"])] = None
    for ips in bound.values():
        for ip in _UNSPECIFIED:
            ips.pop(ip, None)
    return bound


def _ip_only_assets(hosts, flows, forwarded, owner_of_ip, site) -> list[Asset]:
    """Hosts known only by IP: on links without MACs, or private/in-site hosts behind a router."""
    assets: list[Asset] = []
    for ip, (pkts, nbytes, first, last) in _macless_ips(hosts, flows).items():
        if ip in owner_of_ip or ip in _UNSPECIFIED:
            continue
        asset = Asset(
            id="", mac=None, ips=[ip], first_seen=first, last_seen=last, packets=pkts, bytes=nbytes
        )
        assets.append(asset)
        owner_of_ip[ip] = asset
    behind = [ip for ip in forwarded if ip not in owner_of_ip and _keeps_as_asset(ip, site)]
    if not behind:
        return assets
    totals: dict[str, list[float]] = {ip: [0, 0, float("inf"), 0.0] for ip in behind}
    for flow in flows:
        for ip in (flow.orig_ip, flow.resp_ip):
            row = totals.get(ip)
            if row is not None:
                row[0] += flow.packets
                row[1] += flow.bytes
                row[2] = min(row[2], flow.first_ts)
                row[3] = max(row[3], flow.last_ts)
    for ip in behind:
        pkts, nbytes, first, last = totals[ip]
        asset = Asset(
            id="",
            mac=None,
            ips=[ip],
            packets=int(pkts),
            bytes=int(nbytes),
            first_seen=first if first != float("inf") else None,
            last_seen=last or None,
            behind_router=True,
        )
        assets.append(asset)
        owner_of_ip[ip] = asset
    return assets


def _macless_ips(hosts, flows: list[Flow]) -> dict[str, tuple[int, int, float, float]]:
    """IPs sent from links without MACs, or from the all-zero MAC of loopback captures."""
    found = {
        ip: (s.pkts, s.bytes, s.first_ts, s.last_ts) for ip, s in hosts.ips_without_mac().items()
    }
    zero = [pair for (mac, _ip), pair in hosts.mac_ips().items() if mac == 0]
    if zero:
        nbytes: dict[str, int] = defaultdict(int)
        for flow in flows:
            nbytes[flow.orig_ip] += flow.orig_bytes
            nbytes[flow.resp_ip] += flow.resp_bytes
        for pair in zero:
            if pair.ip not in found:
                found[pair.ip] = (pair.pkts, nbytes.get(pair.ip, 0), pair.first_ts, pair.last_ts)
    return found


def _keeps_as_asset(ip: str, site) -> bool:
    if site is not None and site.is_inside(ip):
        return True
    return _local_space(ip)


def _subject(ev: Event, assets_by_mac, owner_of_ip) -> Asset | None:
    """The asset an event's identity describes.

    An explicit `subject_mac` names a device even when it never sent a frame
    here (a DHCP client behind a relay): it gets an asset of its own. An
    explicit `subject_ip` that no asset owns falls back to the packet's end.
    """
    f = ev.fields
    mac = str(f.get("subject_mac") or "").lower()
    if mac:
        if mac not in assets_by_mac:
            try:
                value = mac_int(mac)
            except ValueError:
                return None
            if not _is_unicast(value):
                return None
            assets_by_mac[mac] = _mac_asset(value, mac, None)
        asset = assets_by_mac[mac]
        if not asset.packets:  # known only from others' packets: seen when they named it
            asset.first_seen = min(asset.first_seen or ev.ts, ev.ts)
            asset.last_seen = max(asset.last_seen or ev.ts, ev.ts)
        return asset
    ip = f.get("subject_ip")
    if ip and str(ip) in owner_of_ip:
        return owner_of_ip[str(ip)]
    if f.get("subject") == "dst":
        ip, mac = ev.dst_ip, ev.dst_mac
    else:
        ip, mac = ev.src_ip, ev.src_mac
    if ip is not None and ip in owner_of_ip:
        return owner_of_ip[ip]
    return assets_by_mac.get(mac) if mac else None


def _apply_events(events: list[Event], assets_by_mac, owner_of_ip) -> None:
    """Identity facts, hostnames and spoken protocols from parser events."""
    for ev in events:
        if ev.proto == "container-ids":
            continue
        service = ev.fields.get("service") or ev.proto
        for end_ip, end_mac in ((ev.src_ip, ev.src_mac), (ev.dst_ip, ev.dst_mac)):
            asset = owner_of_ip.get(end_ip) if end_ip else assets_by_mac.get(end_mac or "")
            if asset is not None and service not in asset.protocols and ev.proto != "arp":
                asset.protocols.append(service)
        identity = ev.fields.get("identity")
        if not identity:
            continue
        asset = _subject(ev, assets_by_mac, owner_of_ip)
        if asset is None:
            continue
        for key, value in identity.items():
            if value in (None, "", [], {}):
                continue
            if key == "hostname":
                name = str(value).strip()
                if name and name not in asset.hostnames:
                    asset.hostnames.append(name)
                continue
            _merge_identity(asset.identity, key, value)


def _merge_identity(identity: dict, key: str, value) -> None:
    """First value wins; lists accumulate; a different later value is kept aside.

    Two products claimed by one address is worth seeing (a spoofer, or a
    gateway answering for several devices), so it is never silently dropped.
    """
    if isinstance(value, list | tuple):
        have = identity.setdefault(key, [])
        have.extend(v for v in value if v not in have)
        return
    if key not in identity:
        identity[key] = value
    elif identity[key] != value:
        others = identity.setdefault("other_values", {}).setdefault(key, [])
        if value not in others and len(others) < 16:
            others.append(value)


def _apply_flow_services(flows: list[Flow], owner_of_ip) -> None:
    for flow in flows:
        if not flow.service:
            continue
        for ip in (flow.orig_ip, flow.resp_ip):
            asset = owner_of_ip.get(ip)
            if asset is not None and flow.service not in asset.protocols:
                asset.protocols.append(flow.service)


def _reconcile(assets: list[Asset], site) -> None:
    """declared_id, zone and role from the site file."""
    for asset in assets:
        declared = site.asset_for(asset.mac, None) if asset.mac else None
        if declared is None:
            for ip in asset.ips:
                declared = site.asset_for(asset.mac, ip)
                if declared is not None:
                    break
        if declared is not None:
            asset.declared_id = declared.id
            asset.role = declared.role
            asset.zone = declared.zone
        if asset.zone is None:
            for ip in asset.ips:
                asset.zone = site.zone_of(ip)
                if asset.zone:
                    break


def _numbered(assets: list[Asset]) -> list[Asset]:
    def order(a: Asset) -> tuple:
        return (a.zone or "~", ip_key(a.ips[0] if a.ips else None), a.mac or "")

    assets.sort(key=order)
    for i, asset in enumerate(assets, 1):
        asset.id = f"a-{i:04d}"
        asset.protocols.sort()
    return assets
