"""ICS deep parsers on real packets: fields, subjects, and never raising on bad bytes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _ics_helpers import captures_dir, read_packets, run_parser, selected, slice_packet
from cranewatch.decode import bacnet, enip, modbus, opcua, pn_dcp, rfb, s7comm

MODULES = (enip, s7comm, modbus, pn_dcp, rfb, bacnet, opcua)


def _results(module, rel):
    return run_parser(module, captures_dir() / rel)


def _payloads(module, rel, limit=400):
    """Raw selected payloads of one capture (no per_flow cut), for truncation tests."""
    out = []
    for link, buf in read_packets(captures_dir() / rel):
        pkt = slice_packet(link, buf)
        data = selected(module.SELECT, pkt) if pkt else None
        if data:
            out.append(data)
        if len(out) >= limit:
            break
    return out


# --- EtherNet/IP ---------------------------------------------------------------


def test_enip_list_identity_fields():
    (pkt, fields), *_ = [
        r
        for r in _results(enip, "iti-ics-security-tools/EthernetIP/enip_test.pcap")
        if "identity" in r[1]
    ]
    ident = fields["identity"]
    assert fields["command"] == "list_identity"
    assert ident["vendor_id"] == 1 and ident["product_code"] == 58
    assert ident["revision"] == "4.03" and ident["serial"] == "0x00524d8e"
    assert ident["device_type"] == "communications adapter"
    assert fields["subject_ip"] == pkt.src_ip == "10.1.1.164"


def test_enip_several_messages_in_one_segment():
    results = _results(enip, "arkime/arkime_synthetic.pcap")
    both = [
        f for _, f in results if f.get("commands", [])[:2] == ["list_services", "list_identity"]
    ]
    assert both and both[0]["identity"]["product"] == "1756-EN2T/B"


def test_enip_requests_claim_no_identity():
    results = _results(enip, "iti-ics-security-tools/openics/EIP-RebootorRestart.pcap")
    assert all(p.sport == 44818 for p, f in results if "identity" in f)
    assert any(p.dport == 44818 and f["command"] == "send_rr_data" for p, f in results)


# --- S7comm --------------------------------------------------------------------


def test_s7_cotp_tsap_rack_slot_and_pdu_size():
    results = _results(s7comm, "iti-ics-security-tools/s7/s7comm_program_blocklist_onlineview.pcap")
    cr = next(f for _, f in results if f.get("cotp") == "cr")
    assert (cr["rack"], cr["slot"], cr["connection_type"]) == (0, 2, "pg")
    assert any(f.get("pdu_length") == 240 for _, f in results)


def test_s7_szl_firmware_and_station():
    results = _results(s7comm, "icsnpp-s7comm/s7ident.pcap")
    merged = {}
    for _, f in results:
        merged.update(f.get("identity", {}))
    assert merged["order_number"] == "6ES7 315-2EH14-0AB0"
    assert merged["firmware"] == "V3.2.6"  # Ausbg 0x5603, Ausbe 0x0206
    assert merged["vendor"] == "Siemens"
    assert merged["station_name"] == "SNAP7-SERVER"


@pytest.mark.parametrize("rel", ["ndpi/s7comm-plus.pcap", "icsnpp-s7comm/s7comm_plus.pcap"])
def test_s7comm_plus_recognised(rel):
    services = {f.get("service") for _, f in _results(s7comm, rel)}
    assert "s7comm-plus" in services


# --- Modbus --------------------------------------------------------------------


def test_modbus_header_fields_and_exceptions():
    results = _results(modbus, "arkime/modbus.pcap")
    assert all(0 <= f["function"] <= 127 for _, f in results)
    exc = [f for _, f in results if f["exception"]]
    assert exc and all("exception_code" in f for f in exc)
    # this capture probes function 0, answered with exception 1 (illegal function)
    assert any(f["function"] == 0 and f["exception_code"] == 1 for f in exc)
    # the request/response pair shares the transaction id
    ids = [f["transaction_id"] for _, f in results]
    assert len(set(ids)) < len(ids)


def test_modbus_fc43_request_has_no_objects_response_names_server():
    results = _results(modbus, "icsnpp-modbus/modbus_example.pcap")
    fc43 = [(p, f) for p, f in results if f["function"] == 43]
    assert any("device_id" not in f for p, f in fc43 if p.dport == 502)
    ((pkt, resp),) = [(p, f) for p, f in fc43 if "device_id" in f]
    assert pkt.sport == 502
    assert resp["identity"]["vendor"] == resp["device_id"]["vendor_name"] == "Zeek Modbus Test"


def test_modbus_rejects_non_modbus_on_502():
    assert modbus.parse(b"GET / HTTP/1.1\r\n") is None
    assert modbus.parse(b"\x00\x01\x00\x00\x00\x00\x01\x03") is None  # length 0


# --- PROFINET DCP --------------------------------------------------------------


def test_pn_dcp_set_request_describes_the_destination():
    results = _results(pn_dcp, "iti-ics-security-tools/profinet/profinet-wireshark-bug.pcap")
    sets = [(p, f) for p, f in results if f["dcp_service"] == "set" and not f["response"]]
    assert sets and all(f["subject"] == "dst" for _, f in sets)
    assert sets[0][1]["identity"]["station_name"] == "%n%n%n"  # hostile name kept as data


def test_pn_dcp_identify_request_is_a_query_not_an_identity():
    results = _results(pn_dcp, "iti-ics-security-tools/profinet/PROFINET-RT-DCP/PROFINET-RT.pcap")
    assert results
    for _, f in results:
        # the name looked for is recorded on the asker, never as its station name
        assert f["queried_name"] and set(f["identity"]) == {"dcp_queried_names"}
        assert f["identity"]["dcp_queried_names"] == [f["queried_name"]]


def test_pn_dcp_identify_response_ip_block():
    path = "iti-ics-security-tools/profinet/PROFINET-RT-DCP/ChangeIPUsingDCP.pcap"
    ((pkt, resp),) = [
        (p, f) for p, f in _results(pn_dcp, path) if "station_name" in f.get("identity", {})
    ]
    assert resp["subject_ip"] == "192.168.0.6" and resp["netmask"] == "255.255.255.0"
    assert resp["identity"]["device_id"] == 0x0A01 and resp["identity"]["vendor_id"] == 0x2A
    assert pkt.src_mac.hex(":") == "08:00:06:93:cf:32"


def test_pn_dcp_cyclic_rt_frames_ignored():
    rt = bytes.fromhex("8000") + bytes(40)  # frame id 0x8000: cyclic IO data
    assert pn_dcp.parse(rt) is None


# --- RFB, BACnet, OPC UA -------------------------------------------------------


@pytest.mark.parametrize(
    ("rel", "server_port", "version"),
    [("zeek/rfb/vncmac.pcap", 5900, "3.889"), ("ndpi/vnc.pcap", 6900, "4.1")],
)
def test_rfb_banner_version(rel, server_port, version):
    results = _results(rfb, rel)
    first = results[0]
    assert first[0].sport == server_port  # the server speaks first
    assert first[1]["service"] == "vnc" and first[1]["version"] == version
    assert rfb.parse(b"RFB 003.00") is None and rfb.parse(b"HTTP/1.1 200") is None


def test_bacnet_routed_i_am_is_listed_on_the_router_not_claimed():
    results = _results(bacnet, "arkime/bacnet-stack-services.pcap")
    routed = [f for _, f in results if f.get("service_choice") == "i_am" and "source_network" in f]
    assert routed
    for f in routed:
        assert f["identity"] == {"bacnet_routed_devices": [f["device_instance"]]}


def test_opcua_hello_and_policy():
    results = _results(opcua, "icsnpp-opcua-binary/python_opcua-client-server_encrypted.pcap")
    hel = next(f for _, f in results if f["message"] == "hel")
    assert hel["endpoint_url"].startswith("opc.tcp://") and hel["server_name"] == "localhost"
    policies = {f.get("security_policy") for _, f in results}
    assert {"None", "Basic256Sha256"} <= policies


def test_opcua_found_on_a_non_standard_port_by_header_prefix():
    path = (
        "icsnpp-opcua-binary/open62541_client-server_mainloop-not-localhost-non-standard-port.pcap"
    )
    results = _results(opcua, path)
    assert results and all(4840 not in (p.sport, p.dport) for p, _ in results)
    assert any("identity" in f for _, f in results)


def test_opcua_create_session_request_describes_the_client():
    results = _results(opcua, "icsnpp-opcua-binary/python_opcua-client-server_minimal.pcap")
    req = next(f for _, f in results if f.get("service_type") == "create_session_request")
    assert req["identity"]["application_uri"] == "urn:freeopcua:client"
    assert req["applications"][0]["application_type"] == "client"


# --- robustness ----------------------------------------------------------------

TRUNCATION_SOURCES = [
    (enip, "arkime/arkime_synthetic.pcap"),
    (enip, "iti-ics-security-tools/openics/EIP-RebootorRestart.pcap"),
    (s7comm, "iti-ics-security-tools/s7/s7comm_reading_plc_status.pcap"),
    (modbus, "icsnpp-modbus/modbus_example.pcap"),
    (pn_dcp, "iti-ics-security-tools/profinet/profinet-wireshark-bug.pcap"),
    (bacnet, "icsnpp-bacnet/bacnet_segmented_data.pcap"),
    (opcua, "icsnpp-opcua-binary/open62541_discover_getendpoints_discover_urls.pcap"),
]


@pytest.mark.parametrize(
    ("module", "rel"), TRUNCATION_SOURCES, ids=lambda v: getattr(v, "__name__", v)
)
def test_every_truncation_of_real_payloads_is_safe(module, rel):
    payloads = [p for p in _payloads(module, rel) if module.parse(p)]
    assert payloads
    for data in payloads[:60]:
        for cut in range(len(data)):
            result = module.parse(data[:cut])
            assert result is None or isinstance(result, dict)


_PREFIXES = [
    b"",
    b"\x63\x00",
    b"\x6f\x00",
    b"\x03\x00\x00",
    b"\x03\x00\x00\x40\x02\xf0\x80\x32\x07",
    b"\x00\x01\x00\x00\x00",
    b"\xfe\xff\x05\x01",
    b"\xfe\xfd\x04\x00",
    b"RFB ",
    b"\x81\x0a\x00",
    b"\x81\x04\x00",
    b"HELF",
    b"MSGF",
    b"OPNF",
]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(_PREFIXES), body=st.binary(max_size=600))
def test_random_bytes_never_raise(module, prefix, body):
    result = module.parse(prefix + body)
    assert result is None or isinstance(result, dict)
    assert module.parse(memoryview(prefix + body)) == result


# tshark protocol names (MANIFEST description) under which each parser's identities may appear
_TSHARK_NAMES = {
    enip: ("enip", "EtherNet/IP"),
    s7comm: ("s7comm", "cotp"),
    modbus: ("modbus", "mbtcp"),
    pn_dcp: ("pn_dcp",),
    rfb: ("vnc",),
    bacnet: ("bvlc", "bacnet"),
    opcua: ("opcua",),
}


@pytest.fixture(scope="module")
def corpus_results():
    """Every parser over every selected packet of every shared capture (about a second)."""
    from _ics_helpers import manifest

    results = {}
    for row in manifest():
        pkts = [slice_packet(link, buf) for link, buf in read_packets(captures_dir() / row["path"])]
        for module in MODULES:
            parsed = [module.parse(d) for p in pkts if p and (d := selected(module.SELECT, p))]
            results[row["path"], module] = (row["description"], parsed)
    return results


def test_whole_corpus_never_raises_and_claims_identities_only_where_tshark_agrees(
    corpus_results,
):
    with_identity = 0
    for (path, module), (description, parsed) in corpus_results.items():
        assert all(f is None or isinstance(f, dict) for f in parsed)
        if any(f and "identity" in f for f in parsed):
            with_identity += 1
            names = _TSHARK_NAMES[module]
            if description.endswith("..."):  # tshark's protocol list was cut short
                continue
            # the folder name counts: tshark has no OPC UA heuristic for other ports
            assert any(n in description or n in path for n in names), (path, module.__name__)
    assert with_identity >= 25
