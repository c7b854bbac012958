"""What the simulated terminal is built from: makers, models, clouds, tools.

Knowledge, not logic: every entry names its `source`. `org` is the prefix of
the maker's organisation name in the IEEE OUI registry (see oui.py). Cloud
names are used as DNS/SNI text only; the simulator resolves them to
documentation addresses (RFC 5737), never to the real ones.
"""

from __future__ import annotations

IEEE = "IEEE MA-L registry as shipped in netaddr (netaddr/eui/oui.txt)"

# Cellular routers a crane vendor or contractor may hide in a cabinet.
CELLULAR_MAKERS: tuple[dict, ...] = (
    {
        "maker": "Teltonika",
        "org": "teltonika",
        "models": ("RUT955", "RUT240", "RUTX11", "RUT956"),
        "cloud": "rms.teltonika-networks.com",
        "cloud_port": 443,
        "web_port": 80,
        "server": "uhttpd",
        "title": "Teltonika {model}",
        "hostname": "Teltonika-{model}.com",
        "source": "Teltonika Networks wiki: RMS; RutOS Administration (default hostname "
        "Teltonika-<model>.com), wiki.teltonika-networks.com; " + IEEE,
    },
    {
        "maker": "Sierra Wireless",
        "org": "sierra wireless",
        "models": ("RV50X", "RV55", "LX60"),
        "cloud": "na.airvantage.net",
        "cloud_port": 443,
        "web_port": 9191,
        "server": "ALEOS",
        "title": "ACEmanager - AirLink {model}",
        "hostname": "{model}",
        "source": "Sierra Wireless AirLink ALEOS user guide (ACEmanager on port 9191) and "
        "AirVantage docs, source.sierrawireless.com; " + IEEE,
    },
    {
        "maker": "Cradlepoint",
        "org": "cradlepoint",
        "models": ("IBR900", "IBR1700", "R1900"),
        "cloud": "stream.cradlepoint.com",
        "cloud_port": 443,
        "web_port": 80,
        "server": "CradlepointHTTPService/1.0",
        "title": "Cradlepoint {model}",
        "hostname": "cp",
        "source": "Cradlepoint IBR350 user manual, Enterprise Cloud Manager settings: default "
        "server stream.cradlepoint.com; " + IEEE,
    },
    {
        "maker": "Digi International",
        "org": "digiboard",
        "models": ("IX20", "TX54", "WR21"),
        "cloud": "remotemanager.digi.com",
        "cloud_port": 3199,
        "web_port": 80,
        "server": "Digi-Web",
        "title": "Digi {model} Web UI",
        "hostname": "digi-{model}",
        "source": "Digi Remote Manager documentation (EDP over TLS on tcp/3199), digi.com; "
        "IEEE lists Digi's first OUI 00:40:9D under its former name DigiBoard; " + IEEE,
    },
    {
        "maker": "InHand Networks",
        "org": "inhand network",
        "models": ("IR615", "IR305", "IR915"),
        "cloud": "iot.inhandnetworks.com",
        "cloud_port": 443,
        "web_port": 80,
        "server": "InHand-httpd",
        "title": "InHand {model} Industrial Router",
        "hostname": "router",
        "source": "InHand Networks Device Manager documentation, inhandnetworks.com; " + IEEE,
    },
    {
        "maker": "Robustel",
        "org": "guangzhou robustel",
        "models": ("R1510", "R2000", "R3000"),
        "cloud": "rcms-cloud.robustel.net",
        "cloud_port": 443,
        "web_port": 80,
        "server": "lighttpd",
        "title": "Robustel {model}",
        "hostname": "robustel-{model}",
        "source": "Robustel RCMS cloud manager documentation, robustel.com; " + IEEE,
    },
)

# Crane automation families: PLC, drives and the cabin HMI protocol.
SIEMENS_FAMILY = {
    "vendor": "Siemens",
    "org": "siemens ag",
    "pn_vendor_id": 0x002A,
    "plcs": (
        ("CPU 1516-3 PN/DP", "6ES7 516-3AN02-0AB0", (2, 9, 4), 0x010E),
        ("CPU 1515-2 PN", "6ES7 515-2AM02-0AB0", (2, 9, 2), 0x010E),
        ("CPU 1517-3 PN/DP", "6ES7 517-3AP00-0AB0", (2, 8, 3), 0x010E),
    ),
    "drives": (("SINAMICS S120 CU320-2 PN", 0x050C), ("SINAMICS G120 CU250S-2 PN", 0x050C)),
    "hmi": ("SIMATIC HMI TP1500 Comfort", "siemens ag"),
    "switch": ("SCALANCE XC208", "siemens ag"),
    "source": "Siemens S7-1500 system manual (order numbers), PROFINET vendor ID 0x002A "
    "(PI vendor list), Wireshark packet-s7comm_szl_ids.c; " + IEEE,
}
ROCKWELL_FAMILY = {
    "vendor": "Rockwell Automation",
    "org": "rockwell automation",
    "cip_vendor_id": 1,
    "plcs": (
        ("1756-L83E/B", 166, (33, 11)),
        ("5069-L330ER/A", 209, (33, 11)),
        ("1769-L36ERM/B", 153, (32, 12)),
    ),
    "drives": (("PowerFlex 755", 2192), ("PowerFlex 525", 2160)),
    "hmi": ("Beijer X2 pro 15", "beijer electronics"),
    "switch": ("Stratix 5700", "rockwell automation"),
    "source": "Rockwell Automation Logix 5000 controller literature; ODVA CIP vendor ID 1; "
    "CIP device types 14 (PLC) and 2 (AC drive), ODVA CIP Vol 1; " + IEEE,
}

CAMERAS: tuple[dict, ...] = (
    {
        "vendor": "Axis",
        "org": "axis communications",
        "model": "Q6075-E",
        "path": "/axis-media/media.amp?videocodec=h264",
        "server": "AXIS Q6075-E",
        "source": "Axis VAPIX RTSP documentation; " + IEEE,
    },
    {
        "vendor": "Hikvision",
        "org": "hangzhou hikvision",
        "model": "DS-2DE4425IW-DE",
        "path": "/Streaming/Channels/101",
        "server": "Hikvision/DS-2DE4425IW-DE",
        "source": "Hikvision ISAPI/RTSP URL documentation; " + IEEE,
    },
    {
        "vendor": "Bosch",
        "org": "bosch security systems",
        "model": "AUTODOME IP 5000i",
        "path": "/rtsp_tunnel?h26x=4&line=1",
        "server": "Bosch AUTODOME IP 5000i",
        "source": "Bosch VIP RTSP documentation; " + IEEE,
    },
)

NETWORK_GEAR = {
    "router": ("Cisco", "cisco systems, inc", "IE-4000"),
    "firewall": ("Fortinet", "fortinet", "FortiGate 100F"),
    "core_switch": ("Cisco", "cisco systems, inc", "Catalyst 9300"),
    "wind_gateway": ("Moxa", "moxa technologies", "MGate MB3180"),
    "ocr": ("Advantech", "advantech co", "UNO-2484G crane OCR"),
    "ntp": ("Meinberg", "meinberg", "LANTIME M300"),
    "vm": ("VMware", "vmware", "virtual machine"),
    "pc": ("Dell", "dell inc", "OptiPlex 7010"),
    "source": "vendor product pages; " + IEEE,
}

# Laptops a visiting technician plugs in.
LAPTOP_MAKERS: tuple[dict, ...] = (
    {"vendor": "Dell", "org": "dell inc", "model": "Latitude 5430 Rugged", "source": IEEE},
    {"vendor": "Lenovo", "org": "lenovo", "model": "ThinkPad T14", "source": IEEE},
    {"vendor": "Intel", "org": "intel corporate", "model": "laptop with Intel NIC", "source": IEEE},
)

# Remote-access tools with what they put on the wire.
REMOTE_TOOLS: tuple[dict, ...] = (
    {
        "tool": "teamviewer",
        "port": 5938,
        "source": "TeamViewer KB 'Which ports are used by "
        "TeamViewer' (tcp/5938); nDPI protocols/teamviewer.c (0x17 0x24 magic)",
    },
    {
        "tool": "anydesk",
        "port": 7070,
        "sni": "relay-{hex}.net.anydesk.com",
        "source": "AnyDesk help center 'Firewall' (tcp/80, 443, 6568, 7070; *.net.anydesk.com)",
    },
    {
        "tool": "rdp",
        "port": 3389,
        "source": "MS-RDPBCGR 2.2.1.1 Client X.224 Connection "
        "Request PDU (mstshash cookie, RDP_NEG_REQ)",
    },
    {
        "tool": "vnc",
        "port": 5500,
        "source": "RFC 6143 (RFB 003.008 banner); reverse "
        "connections to a listening viewer on tcp/5500 (TightVNC/UltraVNC docs)",
    },
    {
        "tool": "ssh",
        "port": 22,
        "source": "RFC 4253 section 4.2 protocol version exchange; reverse tunnels with ssh -R",
    },
)
