"""The simulated container terminal: zones, devices, declared assets, conduits.

One zone per ship-to-shore (STS) crane control network, a terminal-IT zone
(TOS, DNS/DHCP, NTP, video management, operator workstations) and a DMZ with
the jump host of the approved vendor VPN. Every choice (crane count, automation
family, makers, addresses) comes from the seeded RNG.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field

from . import catalog
from .oui import MacMinter
from .wire import Node

EPOCH_US = 1_772_438_400 * 1_000_000  # 2026-03-02 08:00:00 UTC

SITE_NAMES = (
    "Harbour East Container Terminal",
    "North Quay Container Terminal",
    "Deepwater Gateway Terminal",
    "Riverside Box Terminal",
    "Pier 7 Container Terminal",
)
DOMAINS = ("hect.lan", "nqct.lan", "dgt.lan", "rbt.lan", "p7ct.lan")

# Documentation ranges (RFC 5737) stand in for every internet address.
PUBLIC_NETS = ("198.51.100.0/24", "203.0.113.0/24", "192.0.2.0/24")


@dataclass(eq=False)
class Device:
    """One host the simulator plays, declared in site.yaml unless `declared` is False."""

    id: str
    role: str
    vendor: str
    model: str
    node: Node
    declared: bool = True
    info: dict = field(default_factory=dict)

    @property
    def ip(self) -> str:
        return self.node.ip

    @property
    def mac(self) -> str:
        assert self.node.mac is not None
        return self.node.mac

    def ref(self) -> dict:
        """{"mac", "ip"} as truth.json and findings name an asset."""
        return {"mac": self.node.mac, "ip": self.node.ip}


@dataclass(eq=False)
class Zone:
    name: str
    label: str
    cidr: str
    prefix: str  # first three octets, "10.20.3"
    kind: str  # crane | it | dmz
    gateway: Device | None = None
    family: str | None = None  # siemens | rockwell (cranes)
    devices: dict[str, Device] = field(default_factory=dict)

    def addr(self, host: int) -> str:
        return f"{self.prefix}.{host}"


class Scenario:
    """Everything the traffic and anomaly generators need to know about the site."""

    def __init__(self, rng: random.Random, duration_s: float, scale: float):
        self.rng = rng
        self.minter = MacMinter(rng)
        i = rng.randrange(len(SITE_NAMES))
        self.site_name, self.domain = SITE_NAMES[i], DOMAINS[i]
        self.t0 = EPOCH_US + rng.randrange(0, 8 * 3600) * 1_000_000 + rng.randrange(1_000_000)
        self.t_end = self.t0 + int(duration_s * 1_000_000)
        self.scale = scale
        self.zones: list[Zone] = []
        self.devices: list[Device] = []
        self.public_nodes: dict[str, Node] = {}
        self.dns_names: dict[str, str] = {}
        self.conduits: list[dict] = []
        self.container_data_to: list[str] = []
        self.notes: dict = {}  # what generators tell the truth file (look-alikes, peers)
        self._used_public: set[str] = set()
        self._used_ips: set[str] = set()

    # --- building blocks -------------------------------------------------------------

    def add_zone(
        self, name: str, label: str, prefix: str, kind: str, family: str | None = None
    ) -> Zone:
        z = Zone(name, label, f"{prefix}.0/24", prefix, kind, family=family)
        self.zones.append(z)
        return z

    def add_device(
        self,
        zone: Zone,
        key: str,
        role: str,
        vendor: str,
        model: str,
        org: str,
        host: int,
        *,
        declared: bool = True,
        ttl: int = 64,
        asset_id: str | None = None,
        ip: str | None = None,
        **info,
    ) -> Device:
        """Create a device with a MAC from `org`'s OUIs on `zone`'s subnet."""
        mac = self.minter.mint(org)
        ip = ip or zone.addr(host)
        if ip in self._used_ips:
            raise ValueError(f"address {ip} used twice")
        self._used_ips.add(ip)
        gw_mac = zone.gateway.mac if zone.gateway else None
        node = Node(
            asset_id or f"{zone.name}-{key}", ip, mac, zone.name, zone.cidr, gw_mac, ttl=ttl
        )
        dev = Device(asset_id or f"{zone.name}-{key}", role, vendor, model, node, declared, info)
        zone.devices[key] = dev
        self.devices.append(dev)
        return dev

    def free_host(self, zone: Zone, low: int, high: int) -> int:
        """A random unused host number in [low, high] on `zone`."""
        while True:
            h = self.rng.randint(low, high)
            if zone.addr(h) not in self._used_ips:
                return h

    def public(
        self, name: str, net: str | None = None, ttl: int | None = None, dns_name: str | None = None
    ) -> Node:
        """An internet host at a fresh documentation address."""
        net = net or self.rng.choice(PUBLIC_NETS)
        base = ipaddress.ip_network(net)
        while True:
            ip = str(base[self.rng.randint(2, 254)])
            if ip not in self._used_public:
                break
        self._used_public.add(ip)
        node = Node(
            name, ip, ttl=ttl or self.rng.choice((64, 128, 255)), hops=self.rng.randint(9, 18)
        )
        self.public_nodes[name] = node
        if dns_name:
            self.dns_names[dns_name] = ip
        return node

    def conduit(self, src: str, dst: str, ports: list[str], remote_access: bool = False) -> None:
        c: dict = {"from": src, "to": dst, "ports": ports}
        if remote_access:
            c["remote_access"] = True
        self.conduits.append(c)

    def time(self, lo: float, hi: float) -> int:
        """A random instant between fractions lo and hi of the capture."""
        span = self.t_end - self.t0
        return self.t0 + int(span * self.rng.uniform(lo, hi))

    @property
    def cranes(self) -> list[Zone]:
        return [z for z in self.zones if z.kind == "crane"]

    @property
    def it(self) -> Zone:
        return next(z for z in self.zones if z.kind == "it")

    @property
    def dmz(self) -> Zone:
        return next(z for z in self.zones if z.kind == "dmz")

    def by_id(self, asset_id: str) -> Device:
        return next(d for d in self.devices if d.id == asset_id)


# --- the terminal ---------------------------------------------------------------------


def build(rng: random.Random, duration_s: float, scale: float) -> Scenario:
    """Lay out zones and declared devices; anomalies are added later by anomalies.py."""
    sc = Scenario(rng, duration_s, scale)
    crane_octet = rng.choice((20, 21, 40, 60))
    it_octet = crane_octet + rng.choice((10, 30))
    n_cranes = max(2, round(rng.randint(3, 4) * scale))
    families = ["siemens", "rockwell"] + [
        rng.choice(("siemens", "rockwell")) for _ in range(n_cranes - 2)
    ]
    rng.shuffle(families)
    first = rng.randint(1, 4)

    it = sc.add_zone("terminal-it", "Terminal IT", f"10.{it_octet}.0", "it")
    dmz = sc.add_zone("vendor-dmz", "Vendor DMZ", f"10.{it_octet}.9", "dmz")
    _build_it(sc, it, dmz)
    for k in range(n_cranes):
        num = first + k
        z = sc.add_zone(
            f"sts-{num:02d}", f"STS-{num:02d}", f"10.{crane_octet}.{num}", "crane", families[k]
        )
        _build_crane(sc, z)
    _base_conduits(sc)
    return sc


def _gateway(sc: Scenario, zone: Zone, kind: str) -> Device:
    vendor, org, model = catalog.NETWORK_GEAR[kind]
    gw = sc.add_device(zone, "gw", "router", vendor, model, org, 1, ttl=255)
    zone.gateway = gw
    return gw


def _build_it(sc: Scenario, it: Zone, dmz: Zone) -> None:
    _gateway(sc, it, "firewall")
    dmz_gw = sc.add_device(
        dmz, "gw", "router", "Fortinet", "FortiGate 100F", "fortinet", 1, ttl=255
    )
    dmz.gateway = dmz_gw
    vendor, org, model = catalog.NETWORK_GEAR["core_switch"]
    sc.add_device(
        it,
        "sw",
        "switch",
        vendor,
        model,
        org,
        2,
        asset_id="it-core-sw",
        port_prefix="GigabitEthernet1/0/",
    )
    vm = catalog.NETWORK_GEAR["vm"]
    sc.add_device(
        it,
        "tos",
        "server",
        vm[0],
        "Navis N4 TOS application server",
        vm[1],
        10,
        asset_id="tos-app",
        ttl=128,
        hostname="tos-app",
    )
    sc.add_device(
        it,
        "dc",
        "server",
        vm[0],
        "Windows Server 2022 (DNS, DHCP)",
        vm[1],
        11,
        asset_id="dc01",
        ttl=128,
        hostname="dc01",
    )
    ntp = catalog.NETWORK_GEAR["ntp"]
    sc.add_device(it, "ntp", "server", ntp[0], ntp[2], ntp[1], 12, asset_id="ntp01")
    sc.add_device(
        it,
        "vms",
        "server",
        "Dell",
        "PowerEdge R750 (Milestone XProtect VMS)",
        "dell inc",
        20,
        asset_id="vms01",
        ttl=128,
        hostname="vms01",
    )
    n_ws = max(2, round(sc.rng.randint(3, 5) * sc.scale))
    pc_orgs = (
        ("Dell", "dell inc", "OptiPlex 7010"),
        ("HP", "hp inc", "EliteDesk 800 G6"),
        ("Lenovo", "lenovo", "ThinkCentre M90q"),
    )
    pc = sc.rng.choice(pc_orgs)
    for i in range(n_ws):
        sc.add_device(
            it,
            f"ws{i + 1}",
            "workstation",
            pc[0],
            pc[2],
            pc[1],
            101 + i,
            asset_id=f"ops-ws-{i + 1:02d}",
            ttl=128,
            hostname=f"OPS-WS-{i + 1:02d}",
        )
    sc.add_device(
        dmz,
        "jump",
        "server",
        vm[0],
        "Windows Server 2019 jump host",
        vm[1],
        10,
        asset_id="jump01",
        ttl=128,
        hostname="jump01",
    )
    for d in it.devices.values():
        if "hostname" in d.info:
            sc.dns_names[f"{d.info['hostname']}.{sc.domain}"] = d.ip
    sc.dns_names[f"jump01.{sc.domain}"] = dmz.devices["jump"].ip


def _build_crane(sc: Scenario, z: Zone) -> None:
    rng = sc.rng
    _gateway(sc, z, "router")
    fam = catalog.SIEMENS_FAMILY if z.family == "siemens" else catalog.ROCKWELL_FAMILY
    sw_model, sw_org = fam["switch"]
    sw_vendor = "Siemens" if z.family == "siemens" else "Rockwell Automation"
    sc.add_device(z, "sw", "switch", sw_vendor, sw_model, sw_org, 2, port_prefix="P1.")
    plc = rng.choice(fam["plcs"])
    station = f"{z.name}-plc"
    if z.family == "siemens":
        sc.add_device(
            z,
            "plc",
            "plc",
            "Siemens",
            f"S7-1500 {plc[0]}",
            fam["org"],
            10,
            ttl=30,
            order_no=plc[1],
            firmware=plc[2],
            pn_device_id=plc[3],
            station=station,
            rack_slot=(0, 1),
        )
    else:
        sc.add_device(
            z,
            "plc",
            "plc",
            "Rockwell Automation",
            plc[0],
            fam["org"],
            10,
            ttl=64,
            product_code=plc[1],
            revision=plc[2],
            serial=rng.getrandbits(32),
            station=station,
        )
    for j, axis in enumerate(("hoist", "trolley", "gantry")[: rng.randint(2, 3)]):
        drv = rng.choice(fam["drives"])
        sc.add_device(
            z,
            f"drive-{axis}",
            "drive",
            fam["vendor"],
            drv[0],
            fam["org"],
            21 + j,
            ttl=64,
            device_code=drv[1],
            station=f"{z.name}-{axis}-drive",
            serial=rng.getrandbits(32),
            axis=axis,
        )
    hmi_model, hmi_org = fam["hmi"]
    sc.add_device(
        z,
        "hmi",
        "hmi",
        hmi_model.split()[0] if z.family == "rockwell" else "Siemens",
        hmi_model,
        hmi_org,
        30,
        ttl=128,
        poll_ms=rng.choice((100, 100, 200, 250, 500)),
    )
    cam = rng.choice(catalog.CAMERAS)
    for c in range(rng.randint(1, 2)):
        sc.add_device(
            z,
            f"cam-{c + 1}",
            "camera",
            cam["vendor"],
            cam["model"],
            cam["org"],
            41 + c,
            path=cam["path"],
            server=cam["server"],
        )
    ocr = catalog.NETWORK_GEAR["ocr"]
    sc.add_device(z, "ocr", "other", ocr[0], ocr[2], ocr[1], 50, ttl=128)
    wind = catalog.NETWORK_GEAR["wind_gateway"]
    sc.add_device(z, "wind", "sensor", wind[0], f"{wind[2]} (anemometer gateway)", wind[1], 60)


def _base_conduits(sc: Scenario) -> None:
    """The allowed flows of the site: DNS/NTP, OCR->TOS, video, vendor VPN, IT to web."""
    it = sc.it
    for z in sc.cranes:
        sc.conduit(z.name, "dc01", ["udp/53"])
        sc.conduit(z.name, "ntp01", ["udp/123"])
        sc.conduit(f"{z.name}-ocr", "tos-app", ["tcp/8080"])
        sc.conduit(z.name, "vms01", ["udp/50000-59999"])
        sc.conduit("vms01", z.name, ["tcp/554", "udp/6970-6999"])
        eng = "tcp/102" if z.family == "siemens" else "tcp/44818"
        sc.conduit("jump01", z.name, ["tcp/3389", eng], remote_access=True)
    sc.conduit("internet", "jump01", ["udp/1194"], remote_access=True)
    sc.conduit(it.name, "internet", ["tcp/80", "tcp/443"])
    sc.conduit("dc01", "internet", ["udp/53"])
    sc.conduit("ntp01", "internet", ["udp/123"])
    sc.container_data_to = ["tos-app"]
