"""DNS, mDNS and NBNS parsers against tshark on real captures, plus hostile names."""

from __future__ import annotations

import time

import pytest

from _decode_it_helpers import CAPTURES, port_payloads, tshark
from cranewatch.decode import dhcp, dns, mdns, nbns

DNS_FILES = ["ndpi/android.pcap", "ndpi/iphone.pcap", "zeek/dns/long-connection.pcap"]


def _need(rel: str):
    path = CAPTURES / rel
    if not path.is_file():
        pytest.skip("shared captures not present")
    return path


def _split(cell: str) -> list[str]:
    return [v for v in cell.split(",") if v] if cell else []


@pytest.mark.parametrize("rel", DNS_FILES)
def test_dns_queries_and_answers_equal_tshark(rel):
    path = _need(rel)
    fields = ["frame.number", "dns.qry.name", "dns.a", "dns.aaaa", "dns.cname"]
    rows = {int(r[0]): r + [""] * (5 - len(r)) for r in tshark(path, fields, "dns && udp.port==53")}
    assert rows
    checked = 0
    for pkt in port_payloads(path, "udp", (53,)):
        if pkt.frame not in rows:
            continue
        got = dns.parse(pkt.payload)
        assert got is not None, f"frame {pkt.frame}"
        _, qnames, a, aaaa, cname = rows[pkt.frame]
        assert [q[0] for q in got["queries"]] == _split(qnames)
        # tshark lists addresses of every section; ours: answers + names pairs
        addrs = {ip for _, ip in got.get("names", [])}
        assert set(_split(a)) | set(_split(aaaa)) == addrs
        assert [v for _, t, v in got["answers"] if t == "CNAME"] == _split(cname)
        checked += 1
    assert checked == len(rows)


def test_dns_names_follow_cname_chain_to_query():
    path = _need("ndpi/android.pcap")
    for pkt in port_payloads(path, "udp", (53,)):
        got = dns.parse(pkt.payload)
        if got and any(t == "CNAME" for _, t, _ in got["answers"]) and got.get("names"):
            qname = got["queries"][0][0]
            a_ips = [v for _, t, v in got["answers"] if t in ("A", "AAAA")]
            assert got["names"] == [[qname, ip] for ip in a_ips]
            return
    pytest.fail("no CNAME answer found")


def test_dns_over_tcp_length_prefix_is_detected():
    path = _need("ndpi/android.pcap")
    msgs = [p.payload for p in port_payloads(path, "udp", (53,))][:20]
    for msg in msgs:
        plain = dns.parse(msg)
        framed = dns.parse(len(msg).to_bytes(2, "big") + msg)
        assert plain is not None and framed == plain


def _message(qname_bytes: bytes, extra: bytes = b"") -> bytes:
    header = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    return header + qname_bytes + b"\x00\x01\x00\x01" + extra


def test_compression_loop_terminates():
    looped = _message(b"\xc0\x0c")  # the name points at itself
    chain = b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00"
    chain += b"".join(b"\xc0" + bytes([12 + 2 * (i + 1)]) for i in range(40)) + b"\x00"
    start = time.perf_counter()
    assert dns.read_name(looped, 12) is None
    assert dns.read_name(chain, 12) is None  # 40 jumps > MAX_JUMPS
    assert dns.parse(looped) is None or dns.parse(looped)["queries"] == []
    assert time.perf_counter() - start < 0.1
    long_name = b"".join(b"\x3f" + b"a" * 63 for _ in range(5)) + b"\x00"
    assert dns.read_name(_message(long_name), 12) is None  # > 255 bytes


def test_record_count_is_bounded():
    rr = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x00\x00\x01"
    msg = b"\x00\x01\x81\x80\x00\x01\xff\xff\x00\x00\x00\x00" + b"\x01a\x00\x00\x01\x00\x01"
    got = dns.parse(msg + rr * 500)
    assert len(got["answers"]) == dns.MAX_RECORDS - 1 and got["truncated"] is True


def test_mdns_announces_hostname_and_model():
    """iphone.pcap: the Mac announces Lucas-iMac.local (also its DHCP hostname) and a model."""
    path = _need("ndpi/iphone.pcap")
    rows = tshark(
        path, ["frame.number", "dns.resp.name", "dns.txt"], "mdns && dns.flags.response==1", "|"
    )
    tshark_names = {n for r in rows for n in r[1].split("|") if n.endswith(".local")}
    tshark_txt = {t for r in rows if len(r) > 2 for t in r[2].split("|")}
    hosts, models = set(), set()
    for pkt in port_payloads(path, "udp", (5353,)):
        got = mdns.parse(pkt.payload)
        if got and "identity" in got:
            assert got["qr"] is True
            hosts.add(got["identity"].get("hostname"))
            models.add(got["identity"].get("model"))
    assert "Lucas-iMac" in hosts and "Lucas-iMac.local" in tshark_names
    assert hosts - {None} <= {n[: -len(".local")] for n in tshark_names}
    models.discard(None)
    assert models and all(f"model={m}" in tshark_txt or f"md={m}" in tshark_txt for m in models)
    dhcp_names = set()
    for pkt in port_payloads(path, "udp", (67, 68)):
        got = dhcp.parse(pkt.payload)
        if got and got.get("hostname"):
            dhcp_names.add(got["hostname"])
    assert "Lucas-iMac" in dhcp_names


@pytest.mark.parametrize("rel", ["zeek/dns/mdns.pcap", "ndpi/iphone.pcap"])
def test_mdns_query_identity_only_from_probe_authority(rel):
    """Known answers in a query describe other hosts; only a probe's authority section counts."""
    path = _need(rel)
    rows = tshark(path, ["frame.number", "dns.count.auth_rr"], "mdns && dns.flags.response==0")
    auth = {int(r[0]): int(r[1] or 0) for r in rows}
    queries = 0
    for pkt in port_payloads(path, "udp", (5353,)):
        got = mdns.parse(pkt.payload)
        if got and not got["qr"]:
            queries += 1
            assert ("identity" in got) <= (auth[pkt.frame] > 0)
    assert queries


@pytest.mark.parametrize(
    ("rel", "opcodes"), [("tcpdump/eapon1.pcap", (5,)), ("ndpi/anyconnect-vpn.pcap", (5, 6))]
)
def test_nbns_claims_equal_tshark(rel, opcodes):
    path = _need(rel)
    flt = " || ".join(f"nbns.flags.opcode == {op}" for op in opcodes)
    rows = tshark(path, ["frame.number", "nbns.name", "nbns.addr"], flt)
    want = set()
    for row in rows:
        name = row[1].split(",")[0]
        if name.endswith(("<00>", "<20>")) and not name.startswith("<"):
            want.add((name[:-4], row[2].split(",")[0]))
    got = set()
    for pkt in port_payloads(path, "udp", (137,)):
        res = nbns.parse(pkt.payload)
        if res and "identity" in res and res["opcode"] != "query":
            got.add((res["identity"]["hostname"], res["subject_ip"]))
    # group names (the workgroup) are claimed too; tshark does not flag them per row
    assert got and got <= want
    assert {n for n, _ in got} >= {n for n, _ in want if n != "ARBEITSGRUPPE"}


def test_nbns_queries_carry_no_identity():
    path = _need("tcpdump/eapon1.pcap")
    queries = [nbns.parse(p.payload) for p in port_payloads(path, "udp", (137,))]
    queries = [q for q in queries if q and q["opcode"] == "query" and not q["qr"]]
    assert queries and all("identity" not in q for q in queries)
    assert all(q["queries"][0][0].endswith(">") for q in queries)
