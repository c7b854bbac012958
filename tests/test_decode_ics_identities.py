"""ICS parsers against the MANIFEST ground truth (tshark-extracted identities).

For every capture whose `identities` column holds an item of a kind these
parsers cover, the parser is run over the packets its SELECT would get (with
the dispatcher's per_flow cut) and every item must be found, compared on
name-like keys (tshark's vendor tables are not comparable).
"""

from __future__ import annotations

import pytest

from _ics_helpers import captures_dir, identity_items, rows_params, run_parser
from cranewatch.decode import bacnet, enip, modbus, opcua, pn_dcp, s7comm


def _path(row):
    return captures_dir() / row["path"]


def _identities(results):
    return [(pkt, fields["identity"]) for pkt, fields in results if "identity" in fields]


@pytest.mark.parametrize("row", rows_params("enip-lir"))
def test_enip_list_identity_products_and_socket_address(row):
    found = {
        (i["product"], f.get("subject_ip"))
        for _, f in run_parser(enip, _path(row))
        for i in [f.get("identity")]
        if i
    }
    for item in identity_items(row, "enip-lir"):
        assert (item["product"], item["ip"]) in found


@pytest.mark.parametrize("row", rows_params("cip-id"))
def test_cip_identity_object_replies(row):
    results = run_parser(enip, _path(row))
    found = {(i["product"], i["serial"]) for _, i in _identities(results)}
    for item in identity_items(row, "cip-id"):
        assert (item["product"], item["serial"]) in found


@pytest.mark.parametrize("row", rows_params("s7-szl"))
def test_s7_szl_order_numbers_and_component_names(row):
    merged: dict[str, set] = {}
    for pkt, ident in _identities(run_parser(s7comm, _path(row))):
        assert pkt.sport == 102  # SZL answers come from the CPU
        for key, value in ident.items():
            merged.setdefault(key, set()).add(value)
    for item in identity_items(row, "s7-szl"):
        for order in item.get("order", "").split("|"):
            if order and order != "Boot Loader":
                assert order in merged["order_number"]
        for key in ("plc_name", "module_name", "serial", "cpu_type"):
            if key in item:
                assert item[key] in merged[key]


def _dcp_names(results):
    """(mac, name) pairs claimed as identity (subject resolved) and as queried names."""
    claimed, queried = set(), set()
    for pkt, fields in results:
        name = fields.get("identity", {}).get("station_name")
        if name is not None:
            mac = pkt.dst_mac if fields.get("subject") == "dst" else pkt.src_mac
            claimed.add((mac.hex(":"), name))
        if "queried_name" in fields:
            queried.add((pkt.src_mac.hex(":"), fields["queried_name"]))
    return claimed, queried


@pytest.mark.parametrize("row", rows_params("pn-dcp"))
def test_pn_dcp_station_names(row):
    results = run_parser(pn_dcp, _path(row))
    claimed, queried = _dcp_names(results)
    set_requests = {
        (pkt.src_mac.hex(":"), f["identity"]["station_name"])
        for pkt, f in results
        if f.get("subject") == "dst" and "station_name" in f.get("identity", {})
    }
    for item in identity_items(row, "pn-dcp"):
        pair = (item["mac"], item["name"])
        if "type" in item:  # tshark saw a full response: must be a claimed identity
            assert pair in claimed
            devs = [
                f["identity"]
                for p, f in results
                if (p.src_mac.hex(":"), f.get("identity", {}).get("station_name")) == pair
            ]
            assert any(d.get("product") == item["type"] for d in devs)
            assert any(d.get("vendor_id") == int(item["vendor_id"], 16) for d in devs)
        else:  # identify request filter or a Set from a tool (tshark credits the sender)
            assert pair in queried or pair in set_requests or pair in claimed


@pytest.mark.parametrize("row", rows_params("modbus-devid"))
def test_modbus_device_identification_objects(row):
    objects = set()
    for _, fields in run_parser(modbus, _path(row)):
        objects.update(fields.get("device_id", {}).values())
    for item in identity_items(row, "modbus-devid"):
        for value in item["objects"].split("|"):
            assert value in objects


@pytest.mark.parametrize("row", rows_params("bacnet-iam"))
def test_bacnet_i_am_device_instances_and_vendors(row):
    seen: dict[int, list] = {}
    for pkt, fields in run_parser(bacnet, _path(row)):
        if "device_instance" in fields:
            seen.setdefault(fields["device_instance"], []).append((pkt, fields))
    for item in identity_items(row, "bacnet-iam"):
        hits = seen[int(item["device"])]
        vendor = int(item["vendor"].rsplit("(", 1)[1].rstrip(")"))
        assert any(f.get("vendor_id") == vendor for _, f in hits)
        if "ip" in item:  # tshark took an address of the I-Am packet
            addrs = {a for p, f in hits for a in (p.src_ip, p.dst_ip, f.get("subject_ip"))}
            assert item["ip"] in addrs


@pytest.mark.parametrize("row", rows_params("opcua"))
def test_opcua_application_and_product_uris(row):
    uris = set()
    for _, fields in run_parser(opcua, _path(row)):
        for app in fields.get("applications", []):
            uris.update((app["application_uri"], app.get("product_uri")))
    for item in identity_items(row, "opcua"):
        for key in ("app_uri", "product_uri"):
            for value in filter(None, item.get(key, "").split("|")):
                assert value in uris
