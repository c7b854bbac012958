"""The site file (CONTRACT.md section 1): what the operator declares, and lookups on it.

Everything seen on the wire is judged against this file, so a mistake in it
must stop the run before any capture is read, with one line naming the file,
the line and the key. That is why parsing keeps ruamel's round-trip tree (it
knows the line of every key and item) next to the plain data pydantic checks:
any error, structural or cross-reference, is mapped back to a line.

Detectors call the lookups once per flow (1e5 times and more), so networks are
parsed once, address lookups are cached, and conduit endpoints are compiled to
small matcher functions.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import ipaddress
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarbool import ScalarBoolean

from cranewatch.errors import SiteFileError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ROLES = (
    "plc",
    "hmi",
    "drive",
    "camera",
    "sensor",
    "router",
    "modem",
    "server",
    "workstation",
    "switch",
    "other",
)
INTERNET = "internet"
Loc = tuple[str | int, ...]
_MISSING = object()
Matcher = Callable[[str | None, str | None], bool]
# A site file nests four levels deep. These bounds stop a broken or hostile one
# from exhausting the stack (deep nesting), the CPU (the YAML scanner slows down
# quadratically on deep [ { nesting) or memory (aliases expanding to millions of values).
MAX_DEPTH = 64
MAX_VALUES = 100_000

# --------------------------------------------------------------------------- values


def _describe(value: Any) -> str:
    """A value as the user wrote it, for messages ('x', a list, the number 3)."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return "'" + text.replace("\n", "\\n") + "'"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_MAC_RE = re.compile(
    r"[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}"  # 00:1b:1b:aa:01:10, 00-1B-...
    r"|[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}"  # Cisco 001b.1baa.0110
    r"|[0-9a-f]{12}"  # bare hex
)


def normalize_mac(value: Any) -> str:
    """Any usual MAC spelling to lower-case colon form; ValueError names the bad value."""
    if isinstance(value, str):
        text = value.strip().lower()
        if _MAC_RE.fullmatch(text):
            digits = re.sub(r"[:.\-]", "", text)
            return ":".join(digits[i : i + 2] for i in range(0, 12, 2))
    raise ValueError(
        f"{_describe(value)} is not a MAC address"
        " (six hex pairs: 00:1b:1b:aa:01:10, 00-1b-1b-aa-01-10, 001b.1baa.0110 or 001b1baa0110)"
    )


def _unmap(addr: IPAddress) -> IPAddress:
    """::ffff:a.b.c.d is the IPv4 host a.b.c.d, as the decoder prints it."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def normalize_ip(value: Any) -> str:
    """An IP address to its canonical text (the form the decoder prints)."""
    if isinstance(value, str):
        try:
            return str(_unmap(ipaddress.ip_address(value.strip())))
        except ValueError:
            pass
    raise ValueError(f"{_describe(value)} is not an IP address")


def parse_cidr(value: Any) -> IPNetwork:
    """A CIDR (a bare address is a /32 or /128); host bits set is an error with a hint."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return ipaddress.ip_network(text, strict=True)
        except ValueError:
            try:
                loose = ipaddress.ip_network(text, strict=False)
            except ValueError:
                pass
            else:
                raise ValueError(
                    f"{_describe(value)} is not a CIDR: host bits are set (did you mean {loose}?)"
                ) from None
    raise ValueError(f"{_describe(value)} is not a CIDR")


@functools.lru_cache(maxsize=1 << 16)
def _parse_ip(ip: str) -> IPAddress | None:
    """Flow addresses are parsed once, whatever the number of lookups."""
    try:
        return _unmap(ipaddress.ip_address(ip))
    except ValueError:
        return None


def _mac_key(mac: str | None) -> str | None:
    """Callers pass decoder MACs (already canonical); other spellings are normalised."""
    if mac is None:
        return None
    if len(mac) == 17 and mac[2] == ":":
        return mac.lower()
    try:
        return normalize_mac(mac)
    except ValueError:
        return mac.lower()


@dataclass(frozen=True, slots=True)
class PortRange:
    """One entry of a conduit's `ports`: proto 'tcp', 'udp', 'icmp' or 'any', ports lo..hi.

    ICMP has no ports, so an icmp entry admits every ICMP/ICMPv6 flow; 'any'
    admits every flow.
    """

    proto: str
    lo: int = 0
    hi: int = 65535

    def admits(self, l4: str, port: int) -> bool:
        """True when a flow of protocol `l4` ('tcp', 'udp', 'icmp', 'icmpv6', ...) to `port` fits."""
        if self.proto == "any":
            return True
        if self.proto == "icmp":
            return l4 in ("icmp", "icmpv6")
        return l4 == self.proto and self.lo <= port <= self.hi

    def __str__(self) -> str:
        if self.proto in ("any", "icmp") or (self.lo, self.hi) == (0, 65535):
            return self.proto
        return (
            f"{self.proto}/{self.lo}" if self.lo == self.hi else f"{self.proto}/{self.lo}-{self.hi}"
        )


_PORT_RE = re.compile(r"(tcp|udp)(?:/(?:(any)|(\d{1,5})(?:-(\d{1,5}))?))?")


def parse_port_spec(value: Any) -> PortRange:
    """'tcp/502', 'udp/1000-2000', 'tcp' (all ports), 'icmp' or 'any' to a PortRange."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f"port {value} needs a protocol: write tcp/{value} or udp/{value}")
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("any", "icmp"):
            return PortRange(text)
        m = _PORT_RE.fullmatch(text)
        if m is not None:
            proto, _, lo, hi = m.groups()
            if lo is None:
                return PortRange(proto)
            low, high = int(lo), int(hi if hi is not None else lo)
            if high <= 65535 and low <= high:
                return PortRange(proto, low, high)
            raise ValueError(f"{_describe(value)}: ports run 0-65535, the low one first")
    raise ValueError(
        f"{_describe(value)} is not a port spec (expected tcp/502, udp/1000-2000, icmp or any)"
    )


def _parse_role(value: Any) -> str:
    """Roles are a closed list so reports and detectors can rely on them."""
    if isinstance(value, str) and value.strip().lower() in ROLES:
        return value.strip().lower()
    hint = _did_you_mean(str(value).lower(), ROLES) if isinstance(value, str) else ""
    raise ValueError(f"{_describe(value)} is not a role (one of: {' '.join(ROLES)}){hint}")


def _text(value: Any) -> Any:
    """Free text may be written unquoted as a number (model: 1500); other types fail later."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _list_or_empty(value: Any) -> Any:
    """`assets:` with nothing under it means no assets."""
    return [] if value is None else value


def _ports_shorthand(value: Any) -> Any:
    """`ports: any` is accepted as `ports: [any]`; other bare strings must be a list."""
    if isinstance(value, str) and value.strip().lower() == "any":
        return [value]
    return value


def _did_you_mean(word: str, choices: Any) -> str:
    names = [str(c) for c in choices]
    same = [n for n in names if n.lower() == word.lower()]  # names are case-sensitive: 'OT' != 'ot'
    close = same or difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


Text = Annotated[str, BeforeValidator(_text)]
Name = Annotated[str, BeforeValidator(_text), Field(min_length=1)]
Mac = Annotated[str, PlainValidator(normalize_mac)]
Ip = Annotated[str, PlainValidator(normalize_ip)]
Cidr = Annotated[IPNetwork, PlainValidator(parse_cidr)]
Port = Annotated[PortRange, PlainValidator(parse_port_spec)]
Role = Annotated[str, PlainValidator(_parse_role)]

# --------------------------------------------------------------------------- models


class _Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently drop a declaration."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class Zone(_Strict):
    """One IEC 62443 zone: its subnets and the only routers allowed to carry traffic off them."""

    name: Name
    cidrs: Annotated[list[Cidr], Field(min_length=1)]
    gateways: Annotated[list[Ip], BeforeValidator(_list_or_empty)] = Field(default_factory=list)


class DeclaredAsset(_Strict):
    """One line of the bill of materials; `zone` is derived from `ip` when not written."""

    id: Name
    mac: Mac | None = None
    ip: Ip | None = None
    zone: Name | None = None
    vendor: Text | None = None
    model: Text | None = None
    role: Role | None = None

    @model_validator(mode="after")
    def _needs_an_address(self) -> DeclaredAsset:
        if self.mac is None and self.ip is None:
            raise ValueError("declares neither mac nor ip; give one or both")
        return self


class Conduit(_Strict):
    """An allowed flow, directional: `src` (YAML `from`) initiates, `dst` (YAML `to`) answers."""

    src: Name = Field(alias="from")
    dst: Name = Field(alias="to")
    ports: Annotated[list[Port], BeforeValidator(_ports_shorthand), Field(min_length=1)]
    remote_access: bool = False
    _line: int = PrivateAttr(default=0)

    @property
    def line(self) -> int:
        """Line of the conduit in the site file, so findings can cite the rule."""
        return self._line

    def admits(self, l4: str, port: int) -> bool:
        """True when one of the conduit's port entries lets `l4`/`port` through."""
        return any(p.admits(l4, port) for p in self.ports)


class _ZoneTable:
    """(network, zone) pairs, most specific first.

    Hashed by identity (the default) so that lru_cache keys on it cost O(1)
    per call, unlike a tuple of networks.
    """

    __slots__ = ("entries",)

    def __init__(self, zones: list[Zone]):
        pairs = [(net, z.name) for z in zones for net in z.cidrs]
        pairs.sort(key=lambda p: -p[0].prefixlen)
        self.entries = tuple(pairs)


@functools.lru_cache(maxsize=1 << 16)
def _zone_lookup(table: _ZoneTable, ip: str) -> str | None:
    """Most specific zone holding `ip`; module-level so lru_cache does not pin a method."""
    addr = _parse_ip(ip)
    if addr is None:
        return None
    for net, name in table.entries:
        if addr in net:
            return name
    return None


class SiteFile(_Strict):
    """The file's top level as written; `load_site` turns it into a `Site`."""

    site: Text = ""
    zones: Annotated[list[Zone], BeforeValidator(_list_or_empty)] = Field(default_factory=list)
    assets: Annotated[list[DeclaredAsset], BeforeValidator(_list_or_empty)] = Field(
        default_factory=list
    )
    conduits: Annotated[list[Conduit], BeforeValidator(_list_or_empty)] = Field(
        default_factory=list
    )
    container_data_to: Annotated[list[Name], BeforeValidator(_list_or_empty)] = Field(
        default_factory=list
    )


class Site:
    """The checked site file and the questions detectors ask of it.

    A plain slotted class rather than a pydantic model: detectors call its
    lookups per flow, and pydantic private-attribute access costs ~1 us each.
    Build it with `load_site(path)`.

    Attributes: name (the `site` key), zones, assets, conduits,
    container_data_to, path.
    """

    __slots__ = (
        "name",
        "zones",
        "assets",
        "conduits",
        "container_data_to",
        "path",
        "_table",
        "_by_id",
        "_by_mac",
        "_by_ip",
        "_by_ip_macless",
        "_gateways",
        "_matchers",
        "_conduit_index",
        "_data_matchers",
    )

    def __init__(self, spec: SiteFile, path: str = "") -> None:
        self.name: str = spec.site
        self.zones: list[Zone] = spec.zones
        self.assets: list[DeclaredAsset] = spec.assets
        self.conduits: list[Conduit] = spec.conduits
        self.container_data_to: list[str] = spec.container_data_to
        self.path: str = path
        self._build_index()

    def __repr__(self) -> str:
        return (
            f"Site(name={self.name!r}, path={self.path!r}, zones={len(self.zones)}, "
            f"assets={len(self.assets)}, conduits={len(self.conduits)})"
        )

    # ---- lookups

    def zone_of(self, ip: str) -> str | None:
        """Zone of an address: the one whose CIDR is most specific; None outside every zone."""
        if ip is None:
            return None
        return _zone_lookup(self._table, ip)

    def is_inside(self, ip: str) -> bool:
        """True when the address is in some declared zone."""
        return self.zone_of(ip) is not None

    def asset_for(self, mac: str | None, ip: str | None) -> DeclaredAsset | None:
        """The declared asset a host (as seen on the wire) is, or None.

        A known MAC decides: the asset declared with that MAC (preferring the
        one whose ip also matches). A host whose MAC is unknown (behind a
        router) matches on its IP. A host whose MAC is not declared matches
        only an asset declared by IP alone: an asset declared with both MAC and
        IP is not claimed by a different MAC using its IP.
        """
        key = _mac_key(mac)
        if key is not None:
            found = self._by_mac.get(key)
            if found:
                if ip is not None:
                    for asset in found:
                        if asset.ip == ip:
                            return asset
                return found[0]
            return self._by_ip_macless.get(ip) if ip is not None else None
        return self._by_ip.get(ip) if ip is not None else None

    def asset_by_id(self, id: str) -> DeclaredAsset | None:  # noqa: A002 - the contract's key
        """The declared asset with that `id`, or None."""
        return self._by_id.get(id)

    def gateways_of(self, zone: str) -> list[str]:
        """Declared gateway IPs of a zone (empty for an unknown zone)."""
        return list(self._gateways.get(zone, ()))

    def endpoint_matches(self, spec: str, ip: str | None, mac: str | None = None) -> bool:
        """Whether a host is what a conduit end or `container_data_to` entry names.

        spec: a zone name (the host's most specific zone is that zone), an
        asset id, a CIDR, or "internet" (an address outside every zone). An
        asset declared with an ip matches by ip, because the MAC seen on the
        wire may be a router's; an asset declared by MAC only matches by MAC.
        """
        matcher = self._matchers.get(spec)
        if matcher is None:
            matcher = self._compile(spec)
            self._matchers[spec] = matcher
        return matcher(ip, mac)

    def conduit_for(
        self,
        src_ip: str | None,
        dst_ip: str | None,
        l4: str,
        port: int,
        src_mac: str | None = None,
        dst_mac: str | None = None,
    ) -> Conduit | None:
        """The first conduit letting `src` initiate `l4`/`port` to `dst`, or None."""
        for conduit, src_match, dst_match in self._conduit_index:
            if (
                conduit.admits(l4, port)
                and src_match(src_ip, src_mac)
                and dst_match(dst_ip, dst_mac)
            ):
                return conduit
        return None

    def container_data_allowed(self, ip: str | None, mac: str | None = None) -> bool:
        """True when `container_data_to` lets this host receive container identifiers."""
        return any(match(ip, mac) for match in self._data_matchers)

    # ---- indexes

    def _build_index(self) -> None:
        """Precompute everything the per-flow lookups need."""
        self._table = _ZoneTable(self.zones)
        self._by_id: dict[str, DeclaredAsset] = {}
        self._by_mac: dict[str, list[DeclaredAsset]] = {}
        self._by_ip: dict[str, DeclaredAsset] = {}
        self._by_ip_macless: dict[str, DeclaredAsset] = {}
        self._gateways = {z.name: list(z.gateways) for z in self.zones}
        for asset in self.assets:
            self._by_id.setdefault(asset.id, asset)
            if asset.mac is not None:
                self._by_mac.setdefault(asset.mac, []).append(asset)
            if asset.ip is not None:
                self._by_ip.setdefault(asset.ip, asset)
                if asset.mac is None:
                    self._by_ip_macless.setdefault(asset.ip, asset)
        self._matchers = {}
        self._conduit_index = [
            (c, self._matcher(c.src), self._matcher(c.dst)) for c in self.conduits
        ]
        self._data_matchers = [self._matcher(spec) for spec in self.container_data_to]

    def _matcher(self, spec: str) -> Matcher:
        if spec not in self._matchers:
            self._matchers[spec] = self._compile(spec)
        return self._matchers[spec]

    def _compile(self, spec: str) -> Matcher:
        """Turn an endpoint spec into a function of (ip, mac)."""
        table = self._table
        if spec == INTERNET:
            return lambda ip, mac: (
                ip is not None and _parse_ip(ip) is not None and _zone_lookup(table, ip) is None
            )
        if any(z.name == spec for z in self.zones):
            return lambda ip, mac: ip is not None and _zone_lookup(table, ip) == spec
        asset = self._by_id.get(spec)
        if asset is not None:
            return _asset_matcher(asset)
        try:
            net = parse_cidr(spec)
        except ValueError:
            return lambda ip, mac: False
        return lambda ip, mac: ip is not None and _in_net(ip, net)


def _in_net(ip: str, net: IPNetwork) -> bool:
    addr = _parse_ip(ip)
    return addr is not None and addr in net


def _asset_matcher(asset: DeclaredAsset) -> Matcher:
    """By ip when the asset declares one (else by MAC); non-IP traffic matches by MAC."""
    want_ip, want_mac = asset.ip, asset.mac

    def match(ip: str | None, mac: str | None) -> bool:
        if want_ip is not None and ip is not None:
            return ip == want_ip
        return want_mac is not None and _mac_key(mac) == want_mac

    return match


# --------------------------------------------------------------------------- loading

_MODELS: dict[tuple[str, ...], type[BaseModel]] = {
    (): SiteFile,
    ("zones",): Zone,
    ("assets",): DeclaredAsset,
    ("conduits",): Conduit,
}


def load_site(path: str | os.PathLike[str]) -> Site:
    """Read and check a site file; every problem is a SiteFileError naming line and key.

    Only the first problem (in file order) is reported: the CLI prints one
    line and exits 2.
    """
    try:
        raw = Path(path).read_bytes()
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise SiteFileError("not UTF-8 text", path=str(path), line=line) from None
    except OSError as exc:
        raise SiteFileError(f"cannot read the site file: {exc.strerror}", path=str(path)) from None
    return loads_site(text, path=str(path))


def loads_site(text: str, path: str = "site.yaml") -> Site:
    """Like load_site, from text (for tests and the simulator); `path` is used in messages."""
    _check_nesting(text, path)
    tree = _parse_yaml(text, path)
    _check_size(tree, path)
    if tree is None:
        raise SiteFileError(
            "the file is empty; expected a mapping with site, zones, assets, conduits",
            path=path,
            line=1,
        )
    if not isinstance(tree, CommentedMap):
        line = tree.lc.line + 1 if isinstance(tree, CommentedSeq) else 1
        raise SiteFileError(
            f"the top level must be a mapping (site:, zones:, assets:, ...), not {_describe(_plain(tree))}",
            path=path,
            line=line,
        )
    try:
        spec = SiteFile.model_validate(_plain(tree))
    except ValidationError as exc:
        problems = [_pydantic_problem(err) for err in _typos_over_gaps(exc.errors())]
        _raise_first(problems, tree, path)
        raise  # pragma: no cover - _raise_first always raises on a non-empty list
    _derive_zones(spec)
    _raise_first(_cross_check(spec), tree, path)
    for i, conduit in enumerate(spec.conduits):
        conduit._line = _line_of(tree, ("conduits", i))
    return Site(spec, path=path)


def _check_nesting(text: str, path: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH before the YAML parser meets it.

    Counts [ { brackets, and the indent plus '- ' marks that open a line (block
    nesting): a legal site file stays far below either bound.
    """
    depth, where = 0, None
    for m in re.finditer(r"[\[\]{}]", text):
        depth += 1 if m.group() in "[{" else -1
        if depth > MAX_DEPTH:
            where = m.start()
            break
    deep = re.search(rf"^[ \t?:-]{{{4 * MAX_DEPTH}}}", text, re.MULTILINE)
    if deep and (where is None or deep.start() < where):
        where = deep.start()
    if where is not None:
        line = text.count("\n", 0, where) + 1
        raise SiteFileError(f"nested more than {MAX_DEPTH} levels deep", path=path, line=line)


def _check_size(tree: Any, path: str) -> None:
    """Refuse trees whose aliases expand to more than MAX_VALUES values (a 'YAML bomb')."""
    stack, count = [tree], 0
    while stack:
        node = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise SiteFileError(
                f"more than {MAX_VALUES:,} values once aliases (*name) are expanded",
                path=path,
                line=1,
            )
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


# The parser's words for the slips people make, and what they most likely mean.
_SLIPS = (
    ("found character '\\t'", "a tab: YAML indents with spaces only"),
    ("mapping values are not allowed here", "this line is indented deeper than the key above it"),
    ("expected <block end>", "this line is indented less than the list or mapping it belongs to"),
    ("did not find expected '-' indicator", "this list item is not in line with the ones above"),
    ("did not find expected key", "this line is not in line with the keys above it"),
)


def _yaml_hint(message: str, line_text: str) -> str:
    """The parser's message, led by what it most likely means in a hand-written site file."""
    if "mapping values are not allowed here" in message and line_text.count(": ") > 1:
        return f"a second ': ' on one line: quote the value (parser: {message})"
    for words, meaning in _SLIPS:
        if words in message:
            return f"{meaning} (parser: {message})"
    return message


def _parse_yaml(text: str, path: str) -> Any:
    try:
        with warnings.catch_warnings():  # e.g. a reused &anchor: legal, but printed raw
            warnings.simplefilter("ignore")
            return YAML(typ="rt").load(text)
    except RecursionError:  # depth is refused before parsing: this is an alias inside itself
        line = next((i for i, t in enumerate(text.splitlines(), 1) if "*" in t), 1)
        raise SiteFileError(
            "not valid YAML: an alias (*name) that contains itself", path=path, line=line
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        parts = [p for p in (exc.problem, exc.context) if p]
        message = " ".join(" ".join(parts).split()) or "syntax error"
        line = mark.line + 1 if mark is not None else None
        lines = text.splitlines()
        here = lines[mark.line] if mark is not None and mark.line < len(lines) else ""
        message = _yaml_hint(message, here)
        raise SiteFileError(f"not valid YAML: {message}", path=path, line=line) from None
    except ReaderError as exc:  # a control character: no mark, but a position
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character if isinstance(exc.character, int) else 0
        message = f"not valid YAML: character #x{char:04x} is not allowed ({exc.reason})"
        raise SiteFileError(message, path=path, line=line) from None
    except YAMLError as exc:
        message = " ".join(str(exc).split())
        raise SiteFileError(f"not valid YAML: {message}", path=path) from None
    except Exception:  # noqa: BLE001 - ruamel lets ValueError/TypeError out of value building
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            line, message = _unbuildable(text)
        raise SiteFileError(f"not valid YAML: {message}", path=path, line=line) from None


def _unbuildable(text: str) -> tuple[int | None, str]:
    """Line and reason of the value ruamel could parse but not build (slow path, errors only).

    A date like 2020-13-45, `!!int x`, or a list used as a mapping key raise
    plain Python errors without a position; composing the node tree again
    finds the culprit and its line.
    """
    yaml = YAML(typ="rt")
    stack, scalars, seen = [yaml.compose(text)], [], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:  # an alias: the same node again, maybe inside itself
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if not isinstance(key, ScalarNode):
                    return (
                        key.start_mark.line + 1,
                        "a key must be plain text, not a list or mapping",
                    )
                stack += [key, value]
        elif isinstance(node, SequenceNode):
            stack += node.value
        elif isinstance(node, ScalarNode):
            scalars.append(node)
    for node in sorted(scalars, key=lambda n: (n.start_mark.line, n.start_mark.column)):
        try:
            yaml.constructor.construct_object(node, deep=True)
        except Exception as exc:  # noqa: BLE001 - the same errors as above, now with a node
            kind = str(node.tag).rsplit(":", 1)[-1]
            why = f"{node.value!r} cannot be read as {kind} ({exc}); quote it if it is text"
            return node.start_mark.line + 1, why
    return None, "a value could not be read"


def _plain(node: Any) -> Any:
    """The round-trip tree as plain Python (ruamel scalar subclasses made ordinary)."""
    if isinstance(node, dict):
        return {(k if isinstance(k, str) else str(k)): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool | ScalarBoolean):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str) or node is None:
        return None if node is None else str(node)
    if isinstance(node, datetime.date):
        return node.isoformat()
    return str(node)


def _line_of(tree: Any, loc: Loc) -> int:
    """1-based line of the deepest node of `loc` that exists in the tree."""
    line = tree.lc.line if isinstance(tree, CommentedMap | CommentedSeq) else 0
    node = tree
    for part in loc:
        if isinstance(node, CommentedMap):
            key = next((k for k in node if str(k) == str(part)), _MISSING)
            at = node.lc.key(key) if key is not _MISSING else None
            if at is None:  # no such key, or a node ruamel kept no position for (a !tag)
                break
            line, node = at[0], node[key]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            at = node.lc.item(part)
            if at is None:
                break
            line, node = at[0], node[part]
        else:
            break
    return line + 1


def _dotted(loc: Loc) -> str:
    """('assets', 2, 'mac') -> 'assets[2].mac'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _typos_over_gaps(errors: list[Any]) -> list[Any]:
    """The errors less 'missing key' where the same mapping has an unknown key.

    Why: `cidr: [...]` gives both; the unknown key is the typo, at its own
    line, and its message names the key that was meant. "required key
    'cidrs' is missing" on the line above would send the user looking for
    a key they believe they wrote. The unknown key's error keeps the names
    of the missing keys (`missing_here`), for when no name is close to it.
    """
    missing: dict[Loc, list[str]] = {}
    for e in errors:
        if e["type"] == "missing":
            missing.setdefault(tuple(e["loc"][:-1]), []).append(str(e["loc"][-1]))
    unknown = {tuple(e["loc"][:-1]) for e in errors if e["type"] == "extra_forbidden"}
    out = []
    for e in errors:
        parent = tuple(e["loc"][:-1])
        if e["type"] == "missing" and parent in unknown:
            continue
        if e["type"] == "extra_forbidden":
            e = {**e, "missing_here": missing.get(parent, [])}
        out.append(e)
    return out


def _pydantic_problem(err: Any) -> tuple[Loc, str]:
    """One pydantic error as (where, message) in the user's terms."""
    loc: Loc = tuple(err["loc"])
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        model = _MODELS.get(tuple(p for p in loc[:-1] if isinstance(p, str)))
        keys = [f.alias or n for n, f in model.model_fields.items()] if model else []
        hint = _did_you_mean(str(loc[-1]), keys)
        if not hint and err.get("missing_here"):
            hint = " (missing here: " + ", ".join(f"'{k}'" for k in err["missing_here"]) + ")"
        return loc, f"unknown key '{loc[-1]}'{hint}"
    if kind == "missing":
        return loc[:-1], f"required key '{loc[-1]}' is missing"
    if kind == "list_type":
        hint = f" (write [{value}])" if isinstance(value, str) else ""
        return loc, f"expected a list, got {_describe(value)}{hint}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return loc, f"expected a mapping (key: value lines), got {_describe(value)}"
    if kind == "string_type":
        return loc, f"expected text, got {_describe(value)}"
    if kind in ("bool_type", "bool_parsing"):
        return loc, f"expected true or false, got {_describe(value)}"
    if kind == "too_short":
        return loc, "needs at least one entry"
    if kind == "string_too_short":
        return loc, "must not be empty"
    if kind == "value_error":
        return loc, str(err["ctx"]["error"])
    return loc, str(err["msg"])


def _raise_first(problems: list[tuple[Loc, str]], tree: Any, path: str) -> None:
    """Raise the problem that comes first in the file (ties: the order found)."""
    if not problems:
        return
    located = [(_line_of(tree, loc), i, loc, msg) for i, (loc, msg) in enumerate(problems)]
    line, _, loc, message = min(located)
    where = _dotted(loc)
    text = " ".join((f"{where}: {message}" if where else message).split())  # one line, always
    raise SiteFileError(text, path=path, line=line)


def _derive_zones(site: SiteFile) -> None:
    """An asset without `zone` is in the zone of its ip (most specific CIDR)."""
    table = _ZoneTable(site.zones)
    for asset in site.assets:
        if asset.zone is None and asset.ip is not None:
            asset.zone = _zone_lookup(table, asset.ip)


def _cross_check(site: SiteFile) -> list[tuple[Loc, str]]:
    """Rules that span entries: unique names, references that exist, ips in their zone."""
    problems: list[tuple[Loc, str]] = []
    zones: dict[str, Zone] = {}
    for i, zone in enumerate(site.zones):
        if zone.name == INTERNET:
            problems.append((("zones", i, "name"), "'internet' is reserved for outside addresses"))
        elif zone.name in zones:
            problems.append((("zones", i, "name"), f"duplicate zone name '{zone.name}'"))
        zones.setdefault(zone.name, zone)
    ids: dict[str, int] = {}
    macs: dict[str, int] = {}
    table = _ZoneTable(list(zones.values()))
    for i, asset in enumerate(site.assets):
        problems.extend(_check_asset(i, asset, zones, ids, table))
        problems.extend(_check_mac(i, asset, macs))
    names = [*zones, *ids, INTERNET]
    for i, conduit in enumerate(site.conduits):
        for key, spec in (("from", conduit.src), ("to", conduit.dst)):
            msg = _check_endpoint(spec, zones, ids, names)
            if msg:
                problems.append((("conduits", i, key), msg))
    for i, spec in enumerate(site.container_data_to):
        msg = _check_endpoint(spec, zones, ids, names)
        if msg:
            problems.append((("container_data_to", i), msg))
    return problems


def _check_mac(i: int, asset: DeclaredAsset, macs: dict[str, int]) -> list[tuple[Loc, str]]:
    """A MAC is one device: declared once, and never a group (multicast, broadcast) address."""
    if asset.mac is None:
        return []
    if int(asset.mac[:2], 16) & 1:
        return [
            (("assets", i, "mac"), f"{asset.mac} is a multicast or broadcast address, not a device")
        ]
    if asset.mac in macs:
        return [
            (
                ("assets", i, "mac"),
                f"MAC {asset.mac} is declared twice (first at assets[{macs[asset.mac]}])",
            )
        ]
    macs[asset.mac] = i
    return []


def _check_asset(
    i: int, asset: DeclaredAsset, zones: dict[str, Zone], ids: dict[str, int], table: _ZoneTable
) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    if asset.id in ids:
        problems.append(
            (
                ("assets", i, "id"),
                f"duplicate asset id '{asset.id}' (first at assets[{ids[asset.id]}])",
            )
        )
    elif asset.id == INTERNET:
        problems.append((("assets", i, "id"), "'internet' is reserved for outside addresses"))
    elif asset.id in zones:
        problems.append(
            (
                ("assets", i, "id"),
                f"'{asset.id}' is also a zone name; conduits could not tell them apart",
            )
        )
    ids.setdefault(asset.id, i)
    zone = zones.get(asset.zone) if asset.zone is not None else None
    if asset.zone is not None and zone is None:
        hint = _did_you_mean(asset.zone, zones)
        problems.append((("assets", i, "zone"), f"zone '{asset.zone}' does not exist{hint}"))
    elif zone is not None and asset.ip is not None:
        addr = _parse_ip(asset.ip)
        if not any(addr in net for net in zone.cidrs):
            cidrs = ", ".join(map(str, zone.cidrs))
            problems.append(
                (("assets", i, "ip"), f"{asset.ip} is not in zone '{zone.name}' ({cidrs})")
            )
        elif (inner := _zone_lookup(table, asset.ip)) != zone.name:
            # traffic is judged by the most specific zone: naming another would be ignored
            net = next(str(n) for n in zones[inner].cidrs if addr in n)
            problems.append(
                (
                    ("assets", i, "zone"),
                    f"{asset.ip} is in zone '{inner}' ({net}), more specific than '{zone.name}';"
                    f" write zone: {inner}, or leave zone out",
                )
            )
    return problems


def _check_endpoint(
    spec: str, zones: dict[str, Zone], ids: dict[str, int], names: list[str]
) -> str | None:
    """None when `spec` names something; else why not."""
    if spec == INTERNET or spec in zones or spec in ids:
        return None
    if re.fullmatch(r"[0-9a-fA-F:.]+(/\d*)?", spec) and ("." in spec or ":" in spec):
        try:
            parse_cidr(spec)
        except ValueError as exc:
            return str(exc)
        return None
    return f"'{spec}' is not a zone, an asset id, a CIDR or 'internet'{_did_you_mean(spec, names)}"
