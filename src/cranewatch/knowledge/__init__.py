"""Facts the detectors judge by, kept as data files with a `source:` per entry.

Detectors never hard-code a vendor, a domain or a port: they ask this module.
`load()` reads the YAML files next to this module once (cached), checks a small
schema so that a typo in a data file fails loudly at start-up rather than
silently matching nothing, and compiles the regexes.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from cranewatch.errors import CranewatchError

HERE = Path(__file__).resolve().parent
STRENGTHS = ("strong", "weak")


class KnowledgeError(CranewatchError):
    """A knowledge data file breaks its schema."""


@dataclass(frozen=True, slots=True)
class VendorRule:
    """A cellular maker, matched on the IEEE registry organisation name."""

    name: str
    pattern: re.Pattern[str]
    strong: bool
    source: str


@dataclass(frozen=True, slots=True)
class TextRule:
    """A regex over identity text (model names, banners, DHCP hints)."""

    name: str
    pattern: re.Pattern[str]
    strong: bool
    source: str
    field: str | None = None  # for DHCP hints: 'vendor_class' or 'hostname'


@dataclass(frozen=True, slots=True)
class Cloud:
    name: str
    maker: str
    domains: tuple[str, ...]
    source: str


@dataclass(frozen=True, slots=True)
class Signature:
    """Payload bytes of a tool: all `at` pieces at their offsets, or `contains` anywhere.

    `length_field` (offset, size, adjust) requires structure, not just bytes: the
    big-endian integer of `size` bytes at `offset`, plus `adjust`, equals the
    payload length (a protocol header's own length field, e.g. IKE's).
    """

    l4: str | None
    at: tuple[tuple[int, bytes], ...]
    contains: bytes | None
    length: int | None
    strong: bool
    length_field: tuple[int, int, int] | None = None

    def matches(self, payload: bytes) -> bool:
        """Whether one L4 payload carries this signature (for tests and few packets)."""
        if self.length is not None and len(payload) != self.length:
            return False
        if self.contains is not None and self.contains not in payload:
            return False
        if self.length_field is not None:
            off, size, adjust = self.length_field
            if len(payload) < off + size:
                return False
            if int.from_bytes(payload[off : off + size], "big") + adjust != len(payload):
                return False
        return all(payload[off : off + len(b)] == b for off, b in self.at)


@dataclass(frozen=True, slots=True)
class RemoteTool:
    name: str
    category: str
    ports: tuple[tuple[str, int, int], ...]  # (l4 or 'ip', low, high)
    names: tuple[str, ...]
    banners: tuple[re.Pattern[str], ...]
    signatures: tuple[Signature, ...]
    source: str

    def has_port(self, l4: str, port: int) -> bool:
        return any(p == l4 and lo <= port <= hi for p, lo, hi in self.ports)


@dataclass(frozen=True, slots=True)
class Technique:
    id: str
    name: str
    tactic: str
    source: str


@dataclass
class Knowledge:
    """Everything loaded from the data files, with the look-ups detectors need."""

    vendors: list[VendorRule] = field(default_factory=list)
    identities: list[TextRule] = field(default_factory=list)
    dhcp_hints: list[TextRule] = field(default_factory=list)
    cgnat: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(default_factory=list)
    clouds: list[Cloud] = field(default_factory=list)
    tools: list[RemoteTool] = field(default_factory=list)
    techniques: dict[str, Technique] = field(default_factory=dict)
    kinds: dict[str, tuple[str, ...]] = field(default_factory=dict)
    initial_ttls: tuple[int, ...] = ()  # ascending
    # Look-up indexes, built on first use (tests may fill the lists by hand first).
    _clouds_by_domain: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    _tools_by_domain: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    _cgnat_seen: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)
    _memo: dict[tuple, Any] = field(default_factory=dict, repr=False, compare=False)

    def _remember(self, key: tuple, compute) -> Any:
        """One answer per distinct question: detectors ask about the same texts per flow."""
        try:
            return self._memo[key]
        except KeyError:
            pass
        if len(self._memo) > 1 << 16:
            self._memo.clear()
        value = self._memo[key] = compute()
        return value

    def cellular_vendor(self, org: str | None) -> VendorRule | None:
        """The cellular maker whose registry name matches `org`, if any."""
        if not org:
            return None
        return next((v for v in self.vendors if v.pattern.search(org)), None)

    def cellular_identity(self, text: str | None) -> TextRule | None:
        """The strongest identity rule matching `text` (strong rules are tried first)."""
        if not text:
            return None
        return self._remember(
            ("identity", text),
            lambda: next((r for r in self.identities if r.pattern.search(text)), None),
        )

    def dhcp_hint(self, field_name: str, value: str | None) -> TextRule | None:
        if not value:
            return None
        rules = (r for r in self.dhcp_hints if r.field == field_name)
        return next((r for r in rules if r.pattern.search(value)), None)

    def is_cgnat(self, ip: str | None) -> bool:
        """Whether `ip` is in a carrier-grade NAT range (one answer per distinct text)."""
        key = ip or ""
        hit = self._cgnat_seen.get(key)
        if hit is None:
            if len(self._cgnat_seen) > 1 << 16:
                self._cgnat_seen.clear()
            try:
                addr = ipaddress.ip_address(key)
            except ValueError:
                hit = False
            else:
                hit = any(addr.version == n.version and addr in n for n in self.cgnat)
            self._cgnat_seen[key] = hit
        return hit

    def cloud_for(self, name: str | None) -> Cloud | None:
        """The device-management cloud a DNS name belongs to (name or subdomain)."""
        if self._clouds_by_domain is None:
            self._clouds_by_domain = _suffix_index((d, c) for c in self.clouds for d in c.domains)
        return _by_suffix(name, self._clouds_by_domain)

    def tool_for_name(self, name: str | None) -> RemoteTool | None:
        """The remote-access tool whose broker/relay domain `name` is in."""
        if self._tools_by_domain is None:
            self._tools_by_domain = _suffix_index((d, t) for t in self.tools for d in t.names)
        return _by_suffix(name, self._tools_by_domain)

    def tool_for_banner(self, banner: str | None) -> RemoteTool | None:
        if not banner:
            return None
        return self._remember(
            ("banner", banner),
            lambda: next((t for t in self.tools if any(b.search(banner) for b in t.banners)), None),
        )

    def tools_for_port(self, l4: str, port: int) -> list[RemoteTool]:
        found = self._remember(
            ("port", l4, port), lambda: tuple(t for t in self.tools if t.has_port(l4, port))
        )
        return list(found)

    def tool(self, name: str) -> RemoteTool | None:
        return self._remember(
            ("tool", name), lambda: next((t for t in self.tools if t.name == name), None)
        )

    def hops_from_initial(self, ttl: int) -> int:
        """Routers between a packet's sender and the capture point, from its TTL.

        The nearest initial value at or above `ttl` is taken for the sender's:
        a stack whose initial TTL is missing from the data file reads as some
        hops away, which is why the file lists stacks seen in the field.
        """
        for initial in self.initial_ttls:
            if ttl <= initial:
                return initial - ttl
        return 0

    def attack(self, kind: str, *variants: str) -> list[str]:
        """Technique ids for a finding kind plus the named variants, in order, no repeats."""
        out: list[str] = []
        for key in (kind, *(f"{kind}.{v}" for v in variants)):
            for tid in self.kinds.get(key, ()):
                if tid not in out:
                    out.append(tid)
        return out


def _suffix_index(pairs) -> dict[str, Any]:
    """Domain -> value; the first entry naming a domain wins, as in a linear scan."""
    index: dict[str, Any] = {}
    for domain, value in pairs:
        index.setdefault(domain, value)
    return index


def _by_suffix(name: str | None, index: dict[str, Any]) -> Any:
    """Longest domain suffix match of `name` in a domain -> value index.

    Why an index: detectors ask once per DNS question and per named flow; one
    dict probe per label of the name beats a scan of every listed domain. The
    name itself is tried first, then it without its first label, and so on, so
    the first hit is the longest matching domain.
    """
    if not name:
        return None
    name = name.lower().rstrip(".")
    while name:
        hit = index.get(name)
        if hit is not None:
            return hit
        dot = name.find(".")
        if dot < 0:
            return None
        name = name[dot + 1 :]
    return None


# ---------------------------------------------------------------- loading


@lru_cache(maxsize=1)
def _fast_loader() -> Any:
    """PyYAML's C-accelerated safe loader, refusing duplicate keys; None without libyaml.

    Why: the pure-Python ruamel parser costs ~0.1 s of every start-up (and of
    every pool worker) for these few files; libyaml reads them ~10x faster.
    Duplicate keys are refused as ruamel refuses them, so a typo still fails
    loudly. The data files use nothing on which YAML 1.1 and 1.2 differ
    (tests/test_knowledge_load.py checks both loaders agree on them).
    """
    try:
        import yaml
    except ImportError:
        return None
    base = getattr(yaml, "CSafeLoader", None)
    if base is None:
        return None

    class Loader(base):  # type: ignore[misc, valid-type]
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r}",
                        key_node.start_mark,
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return Loader


def parse_yaml(text: str) -> Any:
    """YAML text to plain data: libyaml when PyYAML has it, else ruamel's pure loader."""
    loader = _fast_loader()
    if loader is not None:
        import yaml

        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except Exception as exc:  # either parser raises many types; all mean "bad file"
        raise KnowledgeError(f"cannot parse: {exc}", str(path)) from exc
    if not isinstance(data, dict):
        raise KnowledgeError("top level must be a mapping", str(path))
    return data


def _entries(data: dict, key: str, path: Path) -> list[dict]:
    items = data.get(key)
    if not isinstance(items, list) or not items:
        raise KnowledgeError(f"'{key}' must be a non-empty list", str(path))
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise KnowledgeError(f"{key}[{i}] must be a mapping", str(path))
        src = item.get("source")
        if not isinstance(src, str) or not src.strip():
            raise KnowledgeError(
                f"{key}[{i}] ({item.get('name') or item.get('id')}) has no source", str(path)
            )
    return items


def _regex(text: Any, where: str, path: Path) -> re.Pattern[str]:
    if not isinstance(text, str) or not text:
        raise KnowledgeError(f"{where}: pattern must be a non-empty string", str(path))
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error as exc:
        raise KnowledgeError(f"{where}: bad regex {text!r}: {exc}", str(path)) from exc


def _strength(item: dict, where: str, path: Path) -> bool:
    value = item.get("strength", "strong")
    if value not in STRENGTHS:
        raise KnowledgeError(f"{where}: strength must be one of {STRENGTHS}", str(path))
    return value == "strong"


def _hex(text: Any, where: str, path: Path) -> bytes:
    try:
        return bytes.fromhex(str(text))
    except ValueError as exc:
        raise KnowledgeError(f"{where}: bad hex {text!r}", str(path)) from exc


def _load_cellular(path: Path, kn: Knowledge) -> None:
    data = _read(path)
    for i, v in enumerate(_entries(data, "vendors", path)):
        where = f"vendors[{i}]"
        kn.vendors.append(
            VendorRule(
                str(v["name"]),
                _regex(v.get("org"), where, path),
                _strength(v, where, path),
                v["source"],
            )
        )
    rules = []
    for i, r in enumerate(_entries(data, "identities", path)):
        where = f"identities[{i}]"
        rules.append(
            TextRule(
                str(r["name"]),
                _regex(r.get("pattern"), where, path),
                _strength(r, where, path),
                r["source"],
            )
        )
    kn.identities = sorted(rules, key=lambda r: not r.strong)  # strong rules first
    for i, r in enumerate(_entries(data, "dhcp_hints", path)):
        where = f"dhcp_hints[{i}]"
        if r.get("field") not in ("vendor_class", "hostname"):
            raise KnowledgeError(f"{where}: field must be vendor_class or hostname", str(path))
        kn.dhcp_hints.append(
            TextRule(
                str(r["name"]),
                _regex(r.get("pattern"), where, path),
                _strength(r, where, path),
                r["source"],
                r["field"],
            )
        )
    cg = data.get("cgnat") or {}
    if not cg.get("source"):
        raise KnowledgeError("cgnat has no source", str(path))
    kn.cgnat = [ipaddress.ip_network(c) for c in cg.get("cidrs", [])]


def _load_clouds(path: Path, kn: Knowledge) -> None:
    for i, c in enumerate(_entries(_read(path), "clouds", path)):
        domains = c.get("domains")
        if not isinstance(domains, list) or not domains:
            raise KnowledgeError(f"clouds[{i}]: domains must be a non-empty list", str(path))
        kn.clouds.append(
            Cloud(
                str(c["name"]),
                str(c.get("maker", "")),
                tuple(d.lower() for d in domains),
                c["source"],
            )
        )


def _ports(items: Any, where: str, path: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for p in items or []:
        m = re.fullmatch(r"(tcp|udp|ip)/(\d+)(?:-(\d+))?", str(p))
        if not m:
            raise KnowledgeError(
                f"{where}: bad port {p!r} (want tcp/N, udp/N-M or ip/N)", str(path)
            )
        lo = int(m.group(2))
        out.append((m.group(1), lo, int(m.group(3) or lo)))
    return tuple(out)


def _signature(s: dict, where: str, path: Path) -> Signature:
    at = tuple((int(off), _hex(hx, where, path)) for off, hx in s.get("at", []))
    contains = _hex(s["contains"], where, path) if s.get("contains") else None
    if not at and contains is None:
        raise KnowledgeError(f"{where}: a signature needs 'at' or 'contains'", str(path))
    if s.get("l4") not in (None, "tcp", "udp"):
        raise KnowledgeError(f"{where}: l4 must be tcp or udp", str(path))
    length = int(s["length"]) if s.get("length") is not None else None
    field = s.get("length_field")
    if field is not None:
        if not (isinstance(field, list) and len(field) == 3 and int(field[1]) in (1, 2, 4)):
            raise KnowledgeError(
                f"{where}: length_field is [offset, size 1/2/4, adjust]", str(path)
            )
        field = (int(field[0]), int(field[1]), int(field[2]))
    return Signature(s.get("l4"), at, contains, length, _strength(s, where, path), field)


def _load_remote(path: Path, kn: Knowledge) -> None:
    for i, t in enumerate(_entries(_read(path), "tools", path)):
        where = f"tools[{i}] ({t.get('name')})"
        tool = RemoteTool(
            name=str(t["name"]),
            category=str(t.get("category", "")),
            ports=_ports(t.get("ports"), where, path),
            names=tuple(n.lower() for n in t.get("names", []) or []),
            banners=tuple(_regex(b, where, path) for b in t.get("banners", []) or []),
            signatures=tuple(_signature(s, where, path) for s in t.get("signatures", []) or []),
            source=t["source"],
        )
        if not (tool.ports or tool.names or tool.banners or tool.signatures):
            raise KnowledgeError(f"{where}: needs ports, names, banners or signatures", str(path))
        kn.tools.append(tool)


def _load_attack(path: Path, kn: Knowledge) -> None:
    data = _read(path)
    for t in _entries(data, "techniques", path):
        if not re.fullmatch(r"T0\d{3}", str(t.get("id"))):
            raise KnowledgeError(f"bad ATT&CK for ICS id {t.get('id')!r}", str(path))
        kn.techniques[t["id"]] = Technique(
            t["id"], str(t["name"]), str(t.get("tactic", "")), t["source"]
        )
    kinds = data.get("kinds")
    if not isinstance(kinds, dict) or not kinds:
        raise KnowledgeError("'kinds' must be a non-empty mapping", str(path))
    for key, entry in kinds.items():
        if not isinstance(entry, dict) or not entry.get("source"):
            raise KnowledgeError(f"kinds.{key} has no source", str(path))
        ids = tuple(entry.get("techniques") or ())
        unknown = [i for i in ids if i not in kn.techniques]
        if not ids or unknown:
            raise KnowledgeError(f"kinds.{key}: techniques missing or unknown {unknown}", str(path))
        kn.kinds[str(key)] = ids


def _load_ttls(path: Path, kn: Knowledge) -> None:
    values = []
    for i, t in enumerate(_entries(_read(path), "initial_ttls", path)):
        ttl = t.get("ttl")
        if not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= 255:
            raise KnowledgeError(f"initial_ttls[{i}]: ttl must be 1-255, not {ttl!r}", str(path))
        values.append(ttl)
    if len(set(values)) != len(values):
        raise KnowledgeError("initial_ttls: a ttl is listed twice", str(path))
    kn.initial_ttls = tuple(sorted(values))


def load_from(folder: Path) -> Knowledge:
    """Load and check the data files in `folder` (uncached; tests use this)."""
    kn = Knowledge()
    _load_cellular(folder / "cellular_vendors.yaml", kn)
    _load_clouds(folder / "clouds.yaml", kn)
    _load_remote(folder / "remote_access.yaml", kn)
    _load_attack(folder / "attack_ics.yaml", kn)
    _load_ttls(folder / "initial_ttls.yaml", kn)
    return kn


@lru_cache(maxsize=1)
def load() -> Knowledge:
    """The packaged knowledge, loaded once per process."""
    return load_from(HERE)
