/* cranewatch report: builds the page from the embedded findings JSON.
 * Every value from the capture goes through textContent or setAttribute, never innerHTML:
 * hostnames, SNI and HTTP Host headers are attacker-controlled text. */
(function () {
  "use strict";
  var started = performance.now();
  var DATA = JSON.parse(document.getElementById("cranewatch-data").textContent || "{}");
  /* asset counts made by the Python side with the terminal's counting, so both reports agree */
  var SUMMARY = JSON.parse(document.getElementById("cranewatch-summary").textContent || "{}");
  var SEV = ["critical", "high", "medium", "low", "info"];
  var SEV_COLOR = { critical: "#a50e0e", high: "#d9480f", medium: "#c79100", low: "#1c6dd0", info: "#6b7785" };
  var KINDS = ["cellular-modem", "rogue-gateway", "remote-access", "container-data-leak",
    "beaconing", "policy-violation", "undeclared-device"];
  var SVGNS = "http://www.w3.org/2000/svg";
  var assets = arr(DATA.assets), flows = arr(DATA.flows), findings = arr(DATA.findings);
  var inputs = arr(DATA.inputs);

  function arr(v) { return Array.isArray(v) ? v : []; }
  function str(v) { return v === null || v === undefined ? "" : String(v); }

  /* ---------- small DOM helpers ---------- */
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }
  function svg(tag, attrs, children) {
    var e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }
  function setAttrs(e, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") e.textContent = str(v);
      else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : String(v));
    });
  }
  function append(e, children) {
    if (children === null || children === undefined) return;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      if (Array.isArray(c)) { append(e, c); return; }
      e.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    });
  }
  function fmtTs(ts) {
    if (typeof ts !== "number" || !isFinite(ts)) return "";
    return new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 19) + "Z";
  }
  function fmtNum(n) { return typeof n === "number" ? n.toLocaleString("en-US") : str(n); }
  function fmtBytes(n) {
    if (typeof n !== "number") return str(n);
    var u = ["B", "kB", "MB", "GB", "TB"], i = 0;
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    return (i ? n.toFixed(n < 10 ? 2 : 1) : String(n)) + " " + u[i];
  }
  function fmtDur(s) {
    if (typeof s !== "number" || !isFinite(s)) return "";
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.round(s % 60);
    return ((h ? h + " h " : "") + (h || m ? m + " min " : "") + (h ? "" : sec + " s")).trim();
  }
  function hostPort(ip, port) {
    if (!ip) return "";
    var v6 = ip.indexOf(":") >= 0;
    return port === null || port === undefined ? ip : (v6 ? "[" + ip + "]" : ip) + ":" + port;
  }
  function slug(s) { return str(s).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "x"; }

  /* ---------- indexes: which asset is an address, which findings and flows an asset has ---------- */
  var byIp = {}, byMac = {}, byId = {};
  assets.forEach(function (a) {
    a._findings = []; a._flows = [];
    byId[a.id] = a;
    if (a.mac) (byMac[a.mac.toLowerCase()] = byMac[a.mac.toLowerCase()] || []).push(a);
    arr(a.ips).forEach(function (ip) { (byIp[ip] = byIp[ip] || []).push(a); });
  });
  function assetFor(ip, mac) {
    mac = mac ? String(mac).toLowerCase() : null;
    var c = ip ? byIp[ip] : null;
    if (c && c.length) {
      for (var i = 0; i < c.length; i++) if (mac && c[i].mac && c[i].mac.toLowerCase() === mac) return c[i];
      return c[0];
    }
    // No IP (L2 flow) or an asset known only by MAC: the MAC decides. An IP that is known to
    // no asset is not the router whose MAC carried it, so it stays "outside".
    var m = mac ? byMac[mac] : null;
    if (m && m.length && (!ip || arr(m[0].ips).length === 0)) return m[0];
    return null;
  }
  function findingAsset(f) {
    var a = f.asset || {};
    var mac = a.mac ? String(a.mac).toLowerCase() : null;
    var m = mac ? byMac[mac] : null;
    if (m && m.length) {
      for (var i = 0; i < m.length; i++) if (a.ip && arr(m[i].ips).indexOf(a.ip) >= 0) return m[i];
      return m[0];
    }
    return a.ip && byIp[a.ip] ? byIp[a.ip][0] : null;
  }
  findings.forEach(function (f) {
    f._asset = findingAsset(f);
    f._ev = arr(f.evidence).filter(function (e) { return e && typeof e.ts === "number"; });
    if (f._asset) f._asset._findings.push(f);
  });
  flows.forEach(function (fl) {
    fl._o = assetFor(fl.orig_ip, fl.orig_mac);
    fl._r = assetFor(fl.resp_ip, fl.resp_mac);
    fl._bytes = (fl.orig_bytes || 0) + (fl.resp_bytes || 0);
    if (fl._o) fl._o._flows.push(fl);
    if (fl._r && fl._r !== fl._o) fl._r._flows.push(fl);
  });
  function status(a) {
    // "flagged" means a finding beyond merely being undeclared, so the three colours all mean something.
    if (a._findings.some(function (f) { return f.kind !== "undeclared-device"; })) return "flagged";
    if (!SUMMARY.site_file) return "seen";  // no site file: nothing can be declared or undeclared
    return a.declared_id ? "declared" : "undeclared";
  }
  assets.forEach(function (a) { a._status = status(a); a._zone = a.zone || "(no zone)"; });

  /* ---------- summary ---------- */
  function timeSpan() {
    var lo = Infinity, hi = -Infinity;
    function take(a, b) {
      if (typeof a === "number" && isFinite(a)) lo = Math.min(lo, a);
      if (typeof b === "number" && isFinite(b)) hi = Math.max(hi, b);
    }
    inputs.forEach(function (i) { take(i.first_ts, i.last_ts); });
    if (lo === Infinity) assets.forEach(function (a) { take(a.first_seen, a.last_seen); });
    findings.forEach(function (f) { f._ev.forEach(function (e) { take(e.ts, e.ts); }); });
    return lo <= hi ? [lo, hi] : null;
  }
  var SPAN = timeSpan();

  function renderSummary() {
    var counts = {};
    SEV.forEach(function (s) { counts[s] = 0; });
    findings.forEach(function (f) { counts[f.severity] = (counts[f.severity] || 0) + 1; });
    var flagged = assets.filter(function (a) { return a._status === "flagged"; }).length;
    var tool = DATA.tool || {};
    var facts = [
      ["Site", DATA.site || "(no site file)"],
      ["Time span", SPAN ? fmtTs(SPAN[0]) + "  to  " + fmtTs(SPAN[1]) + "  (" + fmtDur(SPAN[1] - SPAN[0]) + ")" : "unknown"],
      ["Inputs", inputs.length + " capture file" + (inputs.length === 1 ? "" : "s") + ", " +
        fmtNum(inputs.reduce(function (s, i) { return s + (i.packets || 0); }, 0)) + " packets"],
      ["Assets", assetsFact(flagged)],
      SUMMARY.site_file ? ["Declared, not seen", notSeenFact(SUMMARY.not_seen)] : null,
      ["Flows", fmtNum(flows.length)],
      ["Tool", str(tool.name || "cranewatch") + " " + str(tool.version) + "  (" + str(DATA.schema) + ")"]
    ];
    var dl = el("dl", { class: "facts", id: "summary-facts" });
    facts.forEach(function (f) { if (f) append(dl, [el("dt", { text: f[0] }), el("dd", null, f[1])]); });
    var cards = el("div", { class: "sev-cards", id: "severity-counts" });
    SEV.forEach(function (s) {
      append(cards, el("div", { class: "sev-card " + s, "data-severity": s }, [
        el("div", { class: "n", text: counts[s] }), el("div", { class: "l", text: s })]));
    });
    Object.keys(counts).forEach(function (s) {
      if (SEV.indexOf(s) < 0) append(cards, el("div", { class: "sev-card other", "data-severity": s }, [
        el("div", { class: "n", text: counts[s] }), el("div", { class: "l", text: s })]));
    });
    var kinds = {};
    findings.forEach(function (f) { kinds[f.kind] = (kinds[f.kind] || 0) + 1; });
    var kindTags = el("p", null, [el("span", { class: "muted", text: "By kind: " })]);
    Object.keys(kinds).sort().forEach(function (k) { append(kindTags, el("span", { class: "tag", text: k + " " + kinds[k] })); });
    var inTable = el("table", { class: "data", id: "inputs-table" }, [
      el("thead", null, el("tr", null, ["Capture", "Packets", "Bytes", "First packet", "Last packet", "Errors"].map(function (h, i) {
        return el("th", { class: i && i < 3 || i === 5 ? "num" : null, text: h });
      }))),
      el("tbody", null, inputs.map(function (i) {
        return el("tr", null, [el("td", { class: "mono", text: i.path }), el("td", { class: "num", text: fmtNum(i.packets) }),
          el("td", { class: "num", text: fmtBytes(i.bytes) }), el("td", { text: fmtTs(i.first_ts) }),
          el("td", { text: fmtTs(i.last_ts) }), el("td", { class: "num", text: fmtNum(i.errors) })]);
      }))]);
    append(document.getElementById("summary-body"), [dl, el("h3", { text: "Findings by severity" }), cards,
      findings.length ? kindTags : el("p", { class: "muted", text: "No findings." }), el("h3", { text: "Inputs" }), inTable]);
  }

  function assetsFact(flagged) {
    var n = fmtNum(SUMMARY.assets), tail = "; " + flagged + " flagged";
    if (!SUMMARY.site_file) return n + ": no site file, so no zones and nothing declared or undeclared" + tail;
    return n + " in " + SUMMARY.zones + " zone(s)" + (SUMMARY.outside ? " and " + SUMMARY.outside + " outside every zone" : "") +
      ": " + SUMMARY.declared + " declared, " + SUMMARY.undeclared + " undeclared" + tail;
  }

  // Which declared devices stayed silent: a count alone does not say what to go and look for.
  function notSeenFact(list) {
    if (!Array.isArray(list)) return el("span", { class: "muted", text: "not recorded in this findings file" });
    if (!list.length) return "none";
    var ul = el("ul", { class: "evidence", id: "not-seen" }), LIMIT = 20;
    function fill(n) {
      ul.textContent = "";
      list.slice(0, n).forEach(function (d) {
        append(ul, el("li", { class: "not-seen-item", "data-declared-id": d.id }, [el("span", { class: "mono", text: d.id }), "  ",
          el("span", { class: "mono", text: [d.ip, d.mac].filter(Boolean).join("  ") }),
          el("span", { class: "muted", text: "  zone " + (d.zone || "(outside zones)") + (d.role ? ", " + d.role : "") })]));
      });
      if (list.length > n) append(ul, el("li", null, el("button", { class: "linkish", type: "button",
        text: "show all " + list.length, onclick: function () { fill(list.length); } })));
    }
    fill(LIMIT);
    return [String(list.length), ul];
  }

  /* ---------- findings ---------- */
  function assetLabel(a) { return a ? (a.declared_id || arr(a.hostnames)[0] || arr(a.ips)[0] || a.mac || a.id) : ""; }

  function findingBody(f) {
    var a = f.asset || {}, p = f.peer, fa = f._asset;
    var dl = el("dl", { class: "facts" });
    function fact(k, v) { if (v !== "" && v !== null && v !== undefined) append(dl, [el("dt", { text: k }), el("dd", null, v)]); }
    fact("Asset", [el("span", { class: "mono", text: [a.mac, a.ip].filter(Boolean).join("  ") }),
      fa ? el("span", { class: "muted", text: "  " + fa.id + (fa.declared_id ? " / " + fa.declared_id : " / undeclared") + ", zone " + fa._zone }) : null,
      fa ? el("span", null, ["  ", el("button", { class: "linkish", type: "button", text: "show on map",
        onclick: function () { showOnMap(fa); } })]) : null]);
    if (p) fact("Peer", el("span", { class: "mono", text: [hostPort(p.ip, p.port), p.name].filter(Boolean).join("  ") }));
    fact("Confidence", typeof f.confidence === "number" ? Math.round(f.confidence * 100) + " %" : "");
    if (arr(f.related).length) fact("Same device", arr(f.related).map(function (id) {
      var other = findings.filter(function (g) { return g.id === id; })[0];
      return el("button", { class: "linkish related", type: "button", "data-related": id,
        text: id + (other ? " " + other.kind : ""), onclick: function () { if (other) openFinding(other); } });
    }));
    if (arr(f.attack_ics).length) fact("ATT&CK for ICS", arr(f.attack_ics).map(function (t) {
      return el("a", { class: "tag", href: "https://attack.mitre.org/techniques/" + encodeURIComponent(t) + "/",
        target: "_blank", rel: "noopener noreferrer", text: t });
    }));
    var ev = arr(f.evidence);
    var ul = el("ul", { class: "evidence" });
    var LIMIT = 8;
    function fill(n) {
      ul.textContent = "";
      ev.slice(0, n).forEach(function (e) {
        append(ul, el("li", { class: "evidence-item" }, [el("span", { class: "ts mono", text: fmtTs(e && e.ts) }), str(e && e.detail)]));
      });
      if (ev.length > n) append(ul, el("li", null, el("button", { class: "linkish", type: "button",
        text: "show all " + ev.length + " evidence items", onclick: function () { fill(ev.length); } })));
    }
    fill(LIMIT);
    return el("div", { class: "f-body" }, [dl, el("div", { class: "muted", text: "Evidence (" + ev.length + ")" }), ul]);
  }

  function renderFindings() {
    document.getElementById("finding-count").textContent = String(findings.length);
    var host = document.getElementById("findings-body");
    if (!findings.length) { append(host, el("p", { class: "muted", text: "No findings." })); return; }
    var order = SEV.slice();
    findings.forEach(function (f) { if (order.indexOf(f.severity) < 0) order.push(f.severity); });
    order.forEach(function (s) {
      var list = findings.filter(function (f) { return f.severity === s; });
      if (!list.length) return;
      var group = el("div", { class: "sev-group", "data-severity": s }, el("h3", null, [
        el("span", { class: "badge " + s, text: s }), "  " + list.length + " finding" + (list.length === 1 ? "" : "s")]));
      list.forEach(function (f) {
        var d = el("details", { class: "finding " + s, id: "finding-" + slug(f.id), "data-id": f.id,
          "data-severity": s, "data-kind": f.kind, open: (s === "critical" || s === "high") && findings.length <= 60 });
        var a = f.asset || {};
        append(d, el("summary", null, [el("span", { class: "badge " + s, text: s }), el("span", { class: "f-title", text: f.title }),
          el("span", { class: "f-kind", text: f.kind + "  " + (a.ip || a.mac || "") }), el("span", { class: "muted mono", text: f.id })]));
        var built = false;
        function build() { if (!built) { built = true; append(d, findingBody(f)); } }
        if (d.open) build(); else d.addEventListener("toggle", build);
        append(group, d);
      });
      append(host, group);
    });
  }
  function openFinding(f) {
    var d = document.getElementById("finding-" + slug(f.id));
    if (!d) return;
    d.open = true;
    d.scrollIntoView({ block: "center" });
  }

  /* ---------- timeline: one lane per kind, a bar from first to last evidence, a dot per evidence ---------- */
  function renderTimeline() {
    var host = document.getElementById("timeline-body");
    var withEv = findings.filter(function (f) { return f._ev.length; });
    if (!withEv.length || !SPAN) { append(host, el("p", { class: "muted", text: "No timed evidence." })); return; }
    var kinds = KINDS.filter(function (k) { return withEv.some(function (f) { return f.kind === k; }); });
    withEv.forEach(function (f) { if (kinds.indexOf(f.kind) < 0) kinds.push(f.kind); });
    var W = Math.max(700, host.clientWidth || 1100), left = 160, right = 20, top = 10;
    var lo = SPAN[0], hi = SPAN[1] > SPAN[0] ? SPAN[1] : SPAN[0] + 1;
    function x(ts) { return left + (ts - lo) / (hi - lo) * (W - left - right); }
    var lanes = [], y = top;
    kinds.forEach(function (k) {
      var list = withEv.filter(function (f) { return f.kind === k; });
      var rows = Math.min(list.length, 6);
      lanes.push({ kind: k, list: list, y: y, rows: rows });
      y += rows * 12 + 16;
    });
    var H = y + 30;
    var s = svg("svg", { viewBox: "0 0 " + W + " " + H, height: H, id: "timeline-svg", role: "img",
      "aria-label": "Timeline of findings" });
    for (var i = 0; i <= 6; i++) {
      var ts = lo + (hi - lo) * i / 6, gx = x(ts);
      append(s, svg("line", { class: "tl-grid", x1: gx, x2: gx, y1: top, y2: y }));
      var label = fmtTs(ts);
      append(s, svg("text", { x: gx, y: y + 16, "text-anchor": i === 0 ? "start" : i === 6 ? "end" : "middle",
        class: "tl-lane-label", text: i === 0 || i === 6 ? label : label.slice(11, 16) }));
    }
    lanes.forEach(function (lane) {
      append(s, svg("text", { x: 4, y: lane.y + lane.rows * 6 + 4, class: "tl-lane-label", text: lane.kind + " (" + lane.list.length + ")" }));
      append(s, svg("line", { class: "tl-grid", x1: left, x2: W - right, y1: lane.y + lane.rows * 12 + 8, y2: lane.y + lane.rows * 12 + 8 }));
      lane.list.forEach(function (f, j) {
        var ry = lane.y + 6 + (j % lane.rows) * 12, col = SEV_COLOR[f.severity] || SEV_COLOR.info;
        var ev = f._ev, first = ev[0].ts, last = ev[0].ts;
        ev.forEach(function (e) { first = Math.min(first, e.ts); last = Math.max(last, e.ts); });
        var g = svg("g", { class: "tl-finding", "data-id": f.id, onclick: function () { openFinding(f); } });
        append(g, svg("title", { text: f.id + " " + f.severity + ": " + f.title + "\n" + fmtTs(first) + " - " + fmtTs(last) + ", " + ev.length + " evidence" }));
        if (last > first) append(g, svg("line", { class: "tl-bar", x1: x(first), x2: x(last), y1: ry, y2: ry, stroke: col }));
        ev.slice(0, 200).forEach(function (e) {
          append(g, svg("circle", { class: "tl-dot", cx: x(e.ts), cy: ry, r: 4, fill: col }));
        });
        append(s, g);
      });
    });
    append(host, s);
  }

  /* ---------- network map per zone ---------- */
  var PRIVATE = [/^10\./, /^192\.168\./, /^172\.(1[6-9]|2\d|3[01])\./, /^169\.254\./, /^127\./, /^f[cd]/i, /^fe80/i, /^::1$/];
  function externalKey(fl, ip, other) {
    if (other) return { key: "zone:" + other._zone, label: "zone " + other._zone };
    if (ip && !PRIVATE.some(function (r) { return r.test(ip); })) return { key: "ext:internet", label: "internet" };
    return { key: "ext:local", label: "unlisted local hosts" };
  }
  var zoneNames = [], zoneAssets = {};
  assets.forEach(function (a) {
    if (!zoneAssets[a._zone]) { zoneAssets[a._zone] = []; zoneNames.push(a._zone); }
    zoneAssets[a._zone].push(a);
  });
  zoneNames.sort();
  var maps = {};
  window.cranewatchMap = maps;
  var mapPanel, selected = null;

  function buildGraph(zone) {
    var nodes = [], index = {}, links = {}, linkList = [];
    zoneAssets[zone].forEach(function (a) {
      var n = { key: "a:" + a.id, asset: a, cls: a._status, label: assetLabel(a), bytes: a.bytes || 0, flows: a._flows };
      index[n.key] = n; nodes.push(n);
    });
    function node(fl, ip, a) {
      if (a && a._zone === zone) return index["a:" + a.id];
      var ek = externalKey(fl, ip, a);
      if (!index[ek.key]) { index[ek.key] = { key: ek.key, cls: "external", label: ek.label, bytes: 0, flows: [] }; nodes.push(index[ek.key]); }
      return index[ek.key];
    }
    flows.forEach(function (fl) {
      var oIn = fl._o && fl._o._zone === zone, rIn = fl._r && fl._r._zone === zone;
      if (!oIn && !rIn) return;
      var o = node(fl, fl.orig_ip, fl._o), r = node(fl, fl.resp_ip, fl._r);
      if (o.cls === "external") { o.flows.push(fl); o.bytes += fl._bytes; }
      if (r.cls === "external") { r.flows.push(fl); r.bytes += fl._bytes; }
      if (o === r) return;
      var k = o.key < r.key ? o.key + "|" + r.key : r.key + "|" + o.key;
      if (!links[k]) { links[k] = { source: o, target: r, bytes: 0, flows: [] }; linkList.push(links[k]); }
      links[k].bytes += fl._bytes; links[k].flows.push(fl);
    });
    return { nodes: nodes, links: linkList };
  }

  function layout(g) {
    var n = g.nodes.length;
    if (!window.d3 || !d3.forceSimulation) {  // never expected: d3 is inlined; fall back to a circle
      g.nodes.forEach(function (d, i) { d.x = 300 * Math.cos(2 * Math.PI * i / n); d.y = 300 * Math.sin(2 * Math.PI * i / n); });
      return;
    }
    var sim = d3.forceSimulation(g.nodes)
      .force("link", d3.forceLink(g.links).distance(function (l) { return (l.source.cls === "external" || l.target.cls === "external" ? 1.6 : 1) * (n < 60 ? 120 : 60); }).strength(0.3))
      .force("charge", d3.forceManyBody().strength(n > 300 ? -45 : n < 60 ? -600 : -180).theta(0.9).distanceMax(800))
      .force("x", d3.forceX(0).strength(0.07))
      .force("y", d3.forceY(0).strength(0.07))
      .stop();
    if (n <= 400) sim.force("collide", d3.forceCollide(n < 60 ? 34 : 14));
    sim.tick(n < 120 ? 300 : n < 500 ? 160 : 90);
  }

  function radius(d) { return 5 + Math.min(8, Math.log10(1 + (d.bytes || 0)) * 0.8); }

  function renderZone(zone) {
    if (maps[zone]) return maps[zone];
    var box = document.getElementById("map-" + slug(zone));
    var t = performance.now();
    var g = buildGraph(zone);
    layout(g);
    var xs = g.nodes.map(function (d) { return d.x; }), ys = g.nodes.map(function (d) { return d.y; });
    // At least ~1 unit per pixel: a small zone stays small instead of being blown up.
    var pad = 60, x0 = Math.min.apply(null, xs) - pad, y0 = Math.min.apply(null, ys) - pad;
    var w = Math.max.apply(null, xs) + pad - x0, h = Math.max.apply(null, ys) + pad - y0;
    var W = Math.max(w, h * 1.6, 640), H = Math.max(h, W / 1.6);
    var vb = { x: x0 - (W - w) / 2, y: y0 - (H - h) / 2, w: W, h: H };
    var s = svg("svg", { role: "img", "aria-label": "Network map of zone " + zone, preserveAspectRatio: "xMidYMid meet" });
    function setVb() { s.setAttribute("viewBox", vb.x + " " + vb.y + " " + vb.w + " " + vb.h); }
    setVb();
    var maxB = 1;
    g.links.forEach(function (l) { maxB = Math.max(maxB, l.bytes); });
    var edgeLayer = svg("g", { class: "edges" }), nodeLayer = svg("g", { class: "nodes" }), labelLayer = svg("g", { class: "labels" });
    g.links.forEach(function (l) {
      l.el = svg("line", { class: "map-edge", x1: l.source.x, y1: l.source.y, x2: l.target.x, y2: l.target.y,
        "stroke-width": (0.8 + 6 * Math.sqrt(l.bytes / maxB)).toFixed(2) },
        svg("title", { text: l.source.label + " - " + l.target.label + ": " + l.flows.length + " flow(s), " + fmtBytes(l.bytes) }));
      append(edgeLayer, l.el);
    });
    var showLabels = g.nodes.length <= 160;
    g.nodes.forEach(function (d) {
      var r = radius(d), shape;
      var common = { class: "map-node " + d.cls + (d.asset ? " asset" : ""), "data-key": d.key,
        "data-asset-id": d.asset ? d.asset.id : null, tabindex: 0,
        onclick: function () { select(zone, d); },
        onkeydown: function (ev) { if (ev.key === "Enter") select(zone, d); } };
      if (d.asset) shape = svg("circle", Object.assign({ cx: d.x, cy: d.y, r: r }, common));
      else shape = svg("rect", Object.assign({ x: d.x - 9, y: d.y - 9, width: 18, height: 18, rx: 3 }, common));
      append(shape, svg("title", { text: d.label + (d.asset ? " (" + d.asset._status + ")" : "") }));
      d.el = shape;
      append(nodeLayer, shape);
      if (showLabels || !d.asset) append(labelLayer, svg("text", { class: "map-label", x: d.x + r + 3, y: d.y + 3, text: d.label }));
    });
    append(s, [edgeLayer, nodeLayer, labelLayer]);
    enablePanZoom(s, vb, setVb);
    append(box, s);
    var api = {
      zone: zone, graph: g, layoutMs: performance.now() - t,
      nodes: function () { return g.nodes.filter(function (d) { return d.asset; }); },
      allNodes: function () { return g.nodes.slice(); },
      edges: function () { return g.links.slice(); },
      select: function (assetId) { var d = g.nodes.filter(function (n) { return n.asset && n.asset.id === assetId; })[0]; if (d) select(zone, d); return !!d; }
    };
    maps[zone] = api;
    return api;
  }

  function enablePanZoom(s, vb, setVb) {
    s.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var rect = s.getBoundingClientRect(), k = ev.deltaY > 0 ? 1.15 : 1 / 1.15;
      var scale = Math.max(vb.w / rect.width, vb.h / rect.height);
      var cx = vb.x + (ev.clientX - rect.left - (rect.width - vb.w / scale) / 2) * scale;
      var cy = vb.y + (ev.clientY - rect.top - (rect.height - vb.h / scale) / 2) * scale;
      vb.x = cx - (cx - vb.x) * k; vb.y = cy - (cy - vb.y) * k; vb.w *= k; vb.h *= k;
      setVb();
    }, { passive: false });
    var drag = null;
    s.addEventListener("pointerdown", function (ev) {
      if (ev.target !== s && ev.target.tagName !== "line") return;
      var rect = s.getBoundingClientRect();
      drag = { x: ev.clientX, y: ev.clientY, vx: vb.x, vy: vb.y, scale: Math.max(vb.w / rect.width, vb.h / rect.height) };
      s.classList.add("panning");
    });
    window.addEventListener("pointermove", function (ev) {
      if (!drag) return;
      vb.x = drag.vx - (ev.clientX - drag.x) * drag.scale; vb.y = drag.vy - (ev.clientY - drag.y) * drag.scale;
      setVb();
    });
    window.addEventListener("pointerup", function () { drag = null; s.classList.remove("panning"); });
  }

  function select(zone, d) {
    var g = maps[zone].graph;
    if (selected && selected.el) selected.el.classList.remove("selected");
    g.links.forEach(function (l) { l.el.classList.toggle("hl", l.source === d || l.target === d); });
    selected = d;
    d.el.classList.add("selected");
    showPanel(d);
  }

  function flowTable(list) {
    var sorted = list.slice().sort(function (a, b) { return b._bytes - a._bytes; });
    var LIMIT = 100;
    var t = el("table", { class: "data map-flows" }, [el("thead", null, el("tr", null,
      ["Proto", "Originator", "Responder", "Service / name", "Bytes", "First", "Last"].map(function (h) { return el("th", { text: h }); })))]);
    var tb = el("tbody");
    sorted.slice(0, LIMIT).forEach(function (fl) {
      append(tb, el("tr", { class: "flow-row" }, [el("td", { text: fl.proto }),
        el("td", { class: "mono", text: hostPort(fl.orig_ip, fl.orig_port) || fl.orig_mac }),
        el("td", { class: "mono", text: hostPort(fl.resp_ip, fl.resp_port) || fl.resp_mac }),
        el("td", { text: [fl.service, fl.name].filter(Boolean).join(" / ") }),
        el("td", { class: "num", text: fmtBytes(fl._bytes) }),
        el("td", { text: fmtTs(fl.first_ts).slice(11) }), el("td", { text: fmtTs(fl.last_ts).slice(11) })]));
    });
    append(t, tb);
    return [t, sorted.length > LIMIT ? el("p", { class: "muted", text: "... and " + (sorted.length - LIMIT) + " more flows (largest shown)" }) : null];
  }

  function showPanel(d) {
    mapPanel.textContent = "";
    var a = d.asset;
    if (a) {
      var dl = el("dl", { class: "facts" });
      var idn = a.identity || {};
      [["Asset", a.id], ["Status", a._status], ["Declared as", a.declared_id || (SUMMARY.site_file ? "not in the site file" : "(no site file)")], ["Zone", a._zone],
        ["MAC", a.mac], ["IPs", arr(a.ips).join(", ")], ["Vendor", a.vendor], ["Role", a.role],
        ["Hostnames", arr(a.hostnames).join(", ")], ["Product", [idn.product, idn.firmware].filter(Boolean).join(" ")],
        ["Protocols", arr(a.protocols).join(", ")], ["Traffic", fmtNum(a.packets) + " packets, " + fmtBytes(a.bytes)],
        ["Seen", fmtTs(a.first_seen) + " to " + fmtTs(a.last_seen)]].forEach(function (r) {
        if (r[1]) append(dl, [el("dt", { text: r[0] }), el("dd", { class: r[0] === "Status" ? "status-" + a._status : null, text: r[1] })]);
      });
      append(mapPanel, [el("h4", { text: assetLabel(a) }), dl, el("h4", { text: "Findings (" + a._findings.length + ")" })]);
      var ul = el("ul", { class: "evidence", id: "panel-findings" });
      a._findings.forEach(function (f) {
        append(ul, el("li", { class: "panel-finding" }, [el("span", { class: "badge " + f.severity, text: f.severity }), " ",
          el("button", { class: "linkish", type: "button", text: f.title, onclick: function () { openFinding(f); } })]));
      });
      if (!a._findings.length) append(ul, el("li", { class: "muted", text: "none" }));
      append(mapPanel, ul);
    } else {
      append(mapPanel, [el("h4", { text: d.label }), el("p", { class: "muted", text: "Peers outside this zone, grouped." })]);
    }
    append(mapPanel, [el("h4", { text: "Flows (" + d.flows.length + ")" }), flowTable(d.flows)]);
  }

  function activateZone(zone) {
    zoneNames.forEach(function (z) {
      document.getElementById("map-" + slug(z)).hidden = z !== zone;
      document.getElementById("tab-" + slug(z)).classList.toggle("active", z === zone);
    });
    renderZone(zone);
  }

  function showOnMap(a) {
    activateZone(a._zone);
    maps[a._zone].select(a.id);
    document.getElementById("map").scrollIntoView({ block: "start" });
  }

  function renderMaps() {
    var host = document.getElementById("map-body");
    if (!zoneNames.length) { append(host, el("p", { class: "muted", text: "No assets." })); return; }
    var tabs = el("div", { class: "zone-tabs", role: "tablist" });
    var stage = el("div");
    zoneNames.forEach(function (z) {
      var flagged = zoneAssets[z].some(function (a) { return a._status === "flagged"; });
      append(tabs, el("button", { class: "zone-tab", id: "tab-" + slug(z), type: "button", role: "tab", "data-zone": z,
        onclick: function () { activateZone(z); } }, [z + " (" + zoneAssets[z].length + ")", flagged ? el("span", { class: "flag-dot", title: "has flagged assets" }) : null]));
      append(stage, el("div", { class: "zone-map", id: "map-" + slug(z), "data-zone": z, "data-node-count": zoneAssets[z].length, hidden: true },
        el("div", { class: "map-hint", text: "scroll to zoom, drag to pan, click a node" })));
    });
    mapPanel = el("div", { id: "map-panel" }, el("p", { class: "muted", text: "Click a node to list its flows and findings." }));
    var kinds = SUMMARY.site_file ? [["declared", "declared in the site file"], ["undeclared", "not in the site file"]] :
      [["seen", "seen (no site file to judge by)"]];
    var legend = el("div", { class: "map-legend" }, kinds.concat([
      ["flagged", "has a finding (beyond undeclared)"], ["external", "peers outside the zone (grouped)"]]).map(function (l) {
      return el("span", null, [el("i", { style: "background:var(--" + l[0] + ")" }), l[1]]);
    }).concat([el("span", { text: "edge width: bytes exchanged" })]));
    append(host, [tabs, el("div", { class: "map-layout" }, [el("div", null, [stage, legend]), mapPanel])]);
    var first = zoneNames.filter(function (z) { return zoneAssets[z].some(function (a) { return a._status === "flagged"; }); })[0] || zoneNames[0];
    activateZone(first);
  }

  /* ---------- asset table: sortable, filterable ---------- */
  var COLS = [
    { h: "Asset", f: function (a) { return a.id; } },
    { h: "Status", f: function (a) { return a._status; }, cls: function (a) { return "status-" + a._status; } },
    { h: "Declared as", f: function (a) { return a.declared_id; } },
    { h: "Zone", f: function (a) { return a.zone; } },
    { h: "MAC", f: function (a) { return a.mac; }, mono: true },
    { h: "IPs", f: function (a) { return arr(a.ips).join(", "); }, mono: true },
    { h: "Vendor", f: function (a) { return a.vendor; } },
    { h: "Role", f: function (a) { return a.role; } },
    { h: "Hostnames", f: function (a) { return arr(a.hostnames).join(", "); } },
    { h: "Product", f: function (a) { var i = a.identity || {}; return [i.product, i.firmware].filter(Boolean).join(" "); } },
    { h: "Protocols", f: function (a) { return arr(a.protocols).join(", "); } },
    { h: "First seen", f: function (a) { return a.first_seen; }, fmt: fmtTs, num: true },
    { h: "Last seen", f: function (a) { return a.last_seen; }, fmt: fmtTs, num: true },
    { h: "Packets", f: function (a) { return a.packets; }, fmt: fmtNum, num: true, right: true },
    { h: "Bytes", f: function (a) { return a.bytes; }, fmt: fmtBytes, num: true, right: true },
    { h: "Findings", f: function (a) { return a._findings.length; }, num: true, right: true }
  ];
  var rows = [];
  function renderAssets() {
    document.getElementById("asset-count").textContent = String(assets.length);
    var table = document.getElementById("asset-table");
    var head = el("tr");
    COLS.forEach(function (c, i) {
      append(head, el("th", { class: c.right ? "num" : null, "data-col": i, title: "sort", text: c.h, onclick: function () { sortBy(i, this); } }));
    });
    append(table.tHead, head);
    assets.forEach(function (a) {
      var tr = el("tr", { "data-asset-id": a.id, "data-status": a._status, "data-zone": a._zone, class: a._status === "flagged" ? "flagged" : null });
      var text = [];
      COLS.forEach(function (c, i) {
        var v = c.f(a), shown = c.fmt ? c.fmt(v) : str(v);
        var td = el("td", { class: [c.right ? "num" : "", c.mono ? "mono" : "", c.cls ? c.cls(a) : ""].join(" ").trim() || null });
        if (i === 0) append(td, el("button", { class: "linkish mono", type: "button", title: "show on map", text: shown, onclick: function () { showOnMap(a); } }));
        else td.textContent = shown;
        text.push(shown, c.fmt ? str(v) : "");
        append(tr, td);
      });
      var idn = a.identity || {};
      Object.keys(idn).forEach(function (k) { text.push(str(idn[k])); });
      rows.push({ tr: tr, a: a, text: text.join(" ").toLowerCase() });
    });
    more = el("button", { class: "linkish", id: "asset-more", type: "button", hidden: true, onclick: showMore });
    table.parentNode.appendChild(more);
    if (window.IntersectionObserver) {
      new IntersectionObserver(function (es) { if (es[0].isIntersecting && !more.hidden) showMore(); },
        { root: table.parentNode, rootMargin: "300px" }).observe(more);
    }
    var input = document.getElementById("asset-filter");
    input.addEventListener("input", function () { applyFilter(input.value); });
    applyFilter(input.value);
  }
  // Only the first PAGE matching rows are in the DOM: re-laying out thousands of wide rows on
  // every keystroke made a 2,000-asset table stall; more are added on demand or on scroll.
  var PAGE = 250, matched = [], limit = PAGE, more = null;
  function applyFilter(q) {
    var t = performance.now();
    var terms = str(q).toLowerCase().split(/\s+/).filter(Boolean);
    matched = rows.filter(function (r) {
      return terms.every(function (term) { return r.text.indexOf(term) >= 0; });
    });
    limit = PAGE;
    paint();
    window.cranewatchFilterMs = performance.now() - t;
  }
  function paint() {
    var tb = document.getElementById("asset-table").tBodies[0], frag = document.createDocumentFragment();
    matched.slice(0, limit).forEach(function (r) { frag.appendChild(r.tr); });
    tb.textContent = "";
    tb.appendChild(frag);
    var n = Math.min(limit, matched.length);
    document.getElementById("asset-visible").textContent = matched.length === rows.length && n === rows.length
      ? rows.length + " assets" : matched.length + " of " + rows.length + " assets match" + (n < matched.length ? ", first " + n + " shown" : "");
    more.hidden = n >= matched.length;
    more.textContent = "show " + Math.min(PAGE, matched.length - n) + " more (" + (matched.length - n) + " not shown)";
  }
  function showMore() { limit += PAGE; paint(); }
  var sortState = { col: -1, dir: 1 };
  function sortBy(i, th) {
    sortState.dir = sortState.col === i ? -sortState.dir : 1;
    sortState.col = i;
    var c = COLS[i], dir = sortState.dir;
    rows.sort(function (x, y) {
      var a = c.f(x.a), b = c.f(y.a);
      var an = a === null || a === undefined || a === "", bn = b === null || b === undefined || b === "";
      if (an || bn) return an === bn ? 0 : an ? 1 : -1;  // blanks last either way
      if (c.num) return (a - b) * dir;
      return String(a).localeCompare(String(b), "en", { numeric: true }) * dir;
    });
    var order = new Map(rows.map(function (r, k) { return [r, k]; }));
    matched.sort(function (x, y) { return order.get(x) - order.get(y); });
    paint();
    document.querySelectorAll("#asset-table th").forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
    th.classList.add(dir > 0 ? "sorted-asc" : "sorted-desc");
  }

  renderSummary();
  renderFindings();
  renderTimeline();
  renderMaps();
  renderAssets();
  window.cranewatchReady = { buildMs: performance.now() - started, at: performance.now() };
})();
