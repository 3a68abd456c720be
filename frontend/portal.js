// The portal map: municipality boundaries coloured by warning level over an optional base map,
// gauges, cameras, road closures and shelters from /api/v1/events; "near me" from /api/v1/here;
// live updates over SSE. Everything here is also in the server-rendered list, which works without
// this script.
// Untrusted text (titles, names, road routes) only ever reaches the DOM as text: elements are built
// with textContent, and Leaflet popups and tooltips are given elements, never HTML strings.
(function () {
  "use strict";
  var dataEl = document.getElementById("portal-data");
  if (!dataEl || typeof L === "undefined") return;
  var cfg = JSON.parse(dataEl.textContent);
  var S = cfg.strings;
  var AREAL = { sediment_warning: 1, flood_forecast: 1, weather_warning: 1, notice: 1, evacuation: 1 };
  var params = new URLSearchParams(location.search);
  var area = params.get("area") || "";

  function t(key, vars) {
    var s = S[key] || key;
    return s.replace(/%\((\w+)\)[sd]/g, function (_, name) { return vars && name in vars ? vars[name] : ""; });
  }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }
  // Level words come from the server (geo/wording.py): 相当 for JMA and gauges.
  function words(kind, n) { return (cfg.levels[kind] || cfg.levels.weather_warning)[String(n)]; }
  function levelText(kind, n) {
    var lv = words(kind, n);
    return lv.label + (n && lv.name ? " " + lv.name : "");
  }
  function badge(kind, n) {
    var lv = words(kind, n);
    return el("span", { class: "badge lv" + n }, [
      el("span", { class: "badge-num", text: lv.label }), document.createTextNode(" "),
      el("span", { class: "badge-name", text: lv.name }),
    ]);
  }
  function hhmm(iso) {
    if (!iso) return "";
    var d = new Date(iso), now = cfg.now ? new Date(cfg.now) : new Date();  // the service's clock (storm time in the demo)
    var opts = { hour: "2-digit", minute: "2-digit", timeZone: "Asia/Tokyo" };
    var day = { month: "numeric", day: "numeric", timeZone: "Asia/Tokyo" };
    var sameDay = d.toLocaleDateString("ja-JP", day) === now.toLocaleDateString("ja-JP", day);
    return (sameDay ? "" : d.toLocaleDateString(cfg.lang === "en" ? "en-GB" : "ja-JP", day) + " ") +
      d.toLocaleTimeString("ja-JP", opts);
  }
  // Every pin sits in a 44 px box: the touch target is larger than the pin drawn.
  function pinIcon(cls, label) {
    var html = el("span", { class: "pin " + cls, "aria-hidden": "true", text: label }).outerHTML;
    return L.divIcon({ className: "pin-wrap", html: html, iconSize: [44, 44], iconAnchor: [22, 22], popupAnchor: [0, -14] });
  }
  function textBox(text) { return el("span", { text: text }); }
  // A name with its reading (from /api/v1/here): romaji in English, furigana (<ruby>) in easy Japanese.
  function nameNode(name, readings) {
    if (cfg.lang === "en" && readings && readings.en) {
      return el("span", { class: "what" }, [document.createTextNode(readings.en + " "),
        el("span", { lang: "ja", class: "orig", text: name })]);
    }
    if (cfg.lang === "easy" && readings && readings.ruby) {
      return el("span", { class: "what" }, readings.ruby.map(function (part) {
        if (!part[1]) return document.createTextNode(part[0]);
        return el("ruby", {}, [document.createTextNode(part[0]), el("rp", { text: "(" }),
          el("rt", { text: part[1] }), el("rp", { text: ")" })]);
      }));
    }
    return el("span", { lang: "ja", class: "what", text: name });
  }

  var b = cfg.bounds;
  var map = L.map("map", { zoomSnap: 0.25, minZoom: 7, maxZoom: 17, attributionControl: true });
  map.attributionControl.setPrefix(el("a", { href: "https://leafletjs.com", text: "Leaflet" }).outerHTML);
  map.attributionControl.addAttribution(el("span", { text: "国土数値情報（行政区域）" }).outerHTML);
  if (cfg.tiles && cfg.tiles.url) {
    // A configured base map (GSI 淡色地図 by default). Offline the outline below still reads alone.
    var credit = cfg.tiles.attribution_url
      ? el("a", { href: cfg.tiles.attribution_url, text: cfg.tiles.attribution })
      : el("span", { text: cfg.tiles.attribution });
    L.tileLayer(cfg.tiles.url, { maxZoom: cfg.tiles.max_zoom, attribution: credit.outerHTML, className: "base-tiles" }).addTo(map);
    document.getElementById("map").classList.add("with-tiles");
  }
  map.fitBounds([[b[1], b[0]], [b[3], b[2]]]);
  var boundaries = L.geoJSON(null, { style: areaStyle, onEachFeature: bindArea }).addTo(map);
  var labels = L.layerGroup().addTo(map);
  var roads = L.layerGroup().addTo(map);
  // Pins close together are clustered; at the closest zoom they spread out, so none hides another.
  var points = L.markerClusterGroup({
    maxClusterRadius: 40, showCoverageOnHover: false, spiderfyOnMaxZoom: true, zoomToBoundsOnClick: true,
    iconCreateFunction: function (cluster) {
      var top = 0;
      cluster.getAllChildMarkers().forEach(function (m) { top = Math.max(top, m.options.level || 0); });
      var count = cluster.getChildCount();
      var html = el("span", { class: "pin cluster lv" + top, text: String(count) }).outerHTML;
      return L.divIcon({ className: "pin-wrap", html: html, iconSize: [44, 44], iconAnchor: [22, 22] });
    },
  }).addTo(map);
  var nearLayer = L.layerGroup().addTo(map);
  var areaLevels = {};
  var areaOrders = {};
  var areaLayers = {};
  var byId = {};
  // "#show=<event id>" (a link from the list): zoom until that pin stands alone and open it.
  function showFromHash() {
    var m = /^#show=(.+)$/.exec(location.hash);
    var pin = m && byId[decodeURIComponent(m[1])];
    if (pin) points.zoomToShowLayer(pin, function () { pin.openPopup(); });
  }

  function areaStyle(feature) {
    var n = areaLevels[feature.properties.code] || 0;
    var lv = words("weather_warning", n);
    var tiles = cfg.tiles && cfg.tiles.url;
    return { color: "#4a4a4a", weight: feature.properties.code === area ? 4 : (n ? 2 : 1),
      fillColor: n ? lv.colour : "#f3f1ea", fillOpacity: n ? 0.55 : (tiles ? 0 : 1) };
  }
  function placeName(p) { return cfg.lang === "en" ? p.name_en : p.name; }
  // A municipality under a warning shows its level number on the map at all zooms (colour is
  // never alone); its name and the level's words are in the tooltip and in the list.
  function bindArea(feature, layer) {
    var n = areaLevels[feature.properties.code] || 0;
    areaLayers[feature.properties.code] = layer;
    var kind = areaOrders[feature.properties.code] ? "evacuation" : "weather_warning";
    // Information gives only the level (its sources' names are in the list); an order is named.
    var said = kind === "evacuation" ? levelText(kind, n) : words(kind, n).label;
    layer.bindTooltip(textBox(placeName(feature.properties) + " — " + said), { sticky: true });
    if (n) {
      var at = feature.properties.label;
      labels.addLayer(L.marker([at[1], at[0]], {
        icon: pinIcon("area lv" + n, String(n)), interactive: false, keyboard: false, zIndexOffset: -1000,
      }));
    }
  }
  function zoomToArea(code) {
    var layer = areaLayers[code];
    if (layer) map.fitBounds(layer.getBounds(), { padding: [12, 12], maxZoom: 13, animate: false });
  }

  function marker(ll, icon, title, level) {
    return L.marker(ll, { icon: icon, title: title, alt: title, keyboard: true, riseOnHover: true,
      zIndexOffset: (level || 0) * 100, level: level || 0 });
  }
  function gaugeMarker(f, ll) {
    var p = f.properties, props = p.properties || {}, n = p.level, name = props.name || p.title;
    // Level 1 (水防団待機) is common in rain: a smaller pin keeps higher levels readable.
    var icon = n ? pinIcon("gauge lv" + n + (n === 1 ? " minor" : ""), String(n)) : pinIcon("gauge lv0 small", "");
    var m = marker(ll, icon, t("River gauge") + ": " + name + " — " + levelText("gauge", n), n);
    m.bindPopup(function () {
      var lm = props.level_m, station = f.id.slice(f.id.indexOf(":") + 1);
      return el("div", {}, [el("h3", { lang: "ja", text: name }), el("p", {}, [badge("gauge", n)]),
        lm == null ? null : el("p", { text: t("Water level") + ": " + lm.toFixed(2) + " m" }),
        // The last 24 hours against the thresholds, drawn by the server (the list links the same chart).
        el("img", { src: "/api/v1/gauges/" + encodeURIComponent(station) + "/chart.svg?lang=" + cfg.lang,
          alt: t("Water level of %(name)s over the last 24 hours, with its thresholds", { name: name }),
          width: "280", height: "156", loading: "lazy" }),
        props.observed_at || p.observed_at ? el("p", { text: t("as of %(t)s", { t: hhmm(props.observed_at || p.observed_at) }) }) : null]);
    });
    return m;
  }
  function cameraFlag(props, observed) {
    if (props.unavailable === true || props.image_state === "unavailable") return t("Unavailable");
    if (props.frozen || props.image_state === "frozen") return t("The picture has not changed (camera may be frozen)");
    var taken = props.taken_at || observed;
    var old = !taken || (cfg.now && (new Date(cfg.now) - new Date(taken)) > (cfg.camera_stale_s || 1800) * 1000);
    if (props.stale || props.image_state === "stale" || old) return t("Not updated: the picture may be old");
    return "";
  }
  function cameraMarker(f, ll) {
    var p = f.properties, props = p.properties || {}, name = props.name || p.title;
    var key = f.id.slice(f.id.indexOf(":") + 1);
    var flag = cameraFlag(props, p.observed_at);
    var m = marker(ll, pinIcon("camera" + (flag ? " flagged" : ""), flag ? "!" : "\u25A3"),
      t("Camera") + ": " + name + (flag ? " — " + flag : ""), 0);
    m.bindPopup(function () {
      var taken = props.taken_at || p.observed_at;
      return el("figure", {}, [
        flag ? el("p", { class: "flag", text: flag }) : null,
        props.unavailable === true || props.image_state === "unavailable" ? null :
          el("img", { src: "/api/v1/cameras/" + encodeURIComponent(key) + "/image", alt: t("Image of %(name)s", { name: name }),
            width: "280", height: "158", loading: "lazy", class: flag ? "old" : "" }),
        el("figcaption", { text: name + (taken ? " — " + t("as of %(t)s", { t: hhmm(taken) }) : "") }),
      ]);
    }, { minWidth: 280 });
    return m;
  }
  function shelterMarker(props, ll, status, cls) {
    var name = props.name;
    var words_ = cfg.shelter[status] || status;
    var m = marker(ll, pinIcon("shelter " + status + (cls ? " " + cls : ""), status === "closed" ? "\u00D7" : "\u2302"),
      t("Shelter") + ": " + name + " — " + words_, 0);
    m.bindPopup(function () {
      return el("div", {}, [el("h3", { lang: "ja", text: name }), el("p", { text: words_ }),
        props.distance ? el("p", { text: props.distance }) : null]);
    });
    return m;
  }
  function roadLayer(f) {
    var p = f.properties, props = p.properties || {};
    var label = t("Road closure") + ": " + (props.route || p.title);
    var detail = label + (props.regulation ? " — " + props.regulation : "") + (props.reason ? " (" + props.reason + ")" : "");
    if (f.geometry.type === "Point") {
      var c = f.geometry.coordinates;
      return marker([c[1], c[0]], pinIcon("road", "\u00D7"), label, 0)
        .bindPopup(function () { return el("p", { text: detail }); });
    }
    return L.geoJSON(f, { style: { color: "#b00020", weight: 6, dashArray: "8 6", opacity: 0.95 } })
      .bindTooltip(textBox(label), { sticky: true })
      .bindPopup(function () { return el("p", { text: detail }); });
  }

  function drawEvents(collection) {
    areaLevels = {};
    areaOrders = {};
    byId = {};
    roads.clearLayers();
    points.clearLayers();
    var pins = [];
    collection.features.forEach(function (f) {
      var p = f.properties;
      if (AREAL[p.kind] && p.level > 0) {
        (p.areas || []).forEach(function (code) {
          // An order's words (避難指示) only where the municipality's own order gives the level.
          if (p.level > (areaLevels[code] || 0)) areaOrders[code] = p.kind === "evacuation";
          else if (p.level === areaLevels[code] && p.kind === "evacuation") areaOrders[code] = true;
          areaLevels[code] = Math.max(areaLevels[code] || 0, p.level);
        });
        return;
      }
      if (!f.geometry) return;
      if (p.kind === "road_closure") { roads.addLayer(roadLayer(f)); return; }
      if (f.geometry.type !== "Point") return;
      var ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
      var pin = null;
      if (p.kind === "gauge") pin = gaugeMarker(f, ll);
      else if (p.kind === "camera") pin = cameraMarker(f, ll);
      else if (p.kind === "shelter") {
        var props = p.properties || {};
        pin = shelterMarker({ name: props.name || p.title }, ll, props.status || "unknown");
      }
      if (pin) { pins.push(pin); byId[f.id] = pin; }
    });
    points.addLayers(pins);
    labels.clearLayers();
    boundaries.eachLayer(function (layer) {
      layer.setStyle(areaStyle(layer.feature));
      layer.unbindTooltip();
      bindArea(layer.feature, layer);
    });
    document.getElementById("map").setAttribute("data-features", String(pins.length + roads.getLayers().length));
  }

  // "no-cache": always revalidate (a 304 when nothing changed), so a live update is never served
  // from the browser's cache of a document that the change has just replaced.
  function getJSON(url) {
    return fetch(url, { cache: "no-cache", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error(url + ": HTTP " + r.status);
      return r.json();
    });
  }
  function loadEvents() { return getJSON("/api/v1/events").then(drawEvents); }
  getJSON("/portal/areas.geojson").then(function (fc) {
    boundaries.addData(fc);
    if (area) zoomToArea(area);
    drawNear(cfg.near);
    return loadEvents().then(showFromHash);
  }).catch(function (err) { console.error(err); });

  // The list is rendered by the server; on a change it is fetched again and swapped in whole. It is
  // parsed as an inert document (DOMParser runs no script and loads nothing) before it is adopted.
  function refreshList() {
    var q = new URLSearchParams({ lang: cfg.lang, partial: "list" });
    if (area) q.set("area", area);
    return fetch("/?" + q.toString(), { cache: "no-cache" }).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
      if (!html) return;
      var fresh = new DOMParser().parseFromString(html, "text/html");
      ["answer", "portal-status", "portal-list"].forEach(function (id) {
        var current = document.getElementById(id), next = fresh.getElementById(id);
        if (current && next) current.replaceWith(document.adoptNode(next));
      });
      var answer = document.getElementById("answer");
      if (answer && answer.dataset.title) document.title = answer.dataset.title;
    });
  }
  // Changes come in bursts: one pass shortly after the first, and a settling pass a little later
  // in case the server's pre-built documents were still being rebuilt (ETags make repeats cheap).
  var pending = null, settle = null;
  function pass() {
    loadEvents().catch(function (err) { console.error(err); });
    refreshList().catch(function (err) { console.error(err); });
  }
  function refresh() {
    if (!pending) pending = setTimeout(function () { pending = null; pass(); }, 1500);
    clearTimeout(settle);
    settle = setTimeout(pass, 6000);
  }
  // Source freshness is not in the change feed: refresh the list every minute as well.
  setInterval(refresh, 60000);
  if ("EventSource" in window) {
    var stream = new EventSource("/api/v1/stream");
    stream.addEventListener("change", refresh);
  }

  // Recommended shelters for the chosen area or the resident's point, drawn with their status.
  function drawNear(near) {
    nearLayer.clearLayers();
    if (!near) return;
    if (near.point) {
      nearLayer.addLayer(L.circleMarker([near.point.lat, near.point.lon], { radius: 9, color: "#0050b3", weight: 3, interactive: false }));
    }
    (near.shelters || []).forEach(function (s) {
      nearLayer.addLayer(shelterMarker(s, [s.lat, s.lon], s.status, "recommended"));
    });
  }
  // "Near me": browser location -> /api/v1/here; the answer above is then given for the resident's
  // municipality (the page's address remembers it), the map zooms there and the shelters are drawn.
  var button = document.getElementById("near-me");
  var status = document.getElementById("near-status");
  var result = document.getElementById("near-result");
  function away(m) { return m < 1000 ? Math.round(m / 10) * 10 + " m" : (m / 1000).toFixed(1) + " km"; }
  function showHere(report) {
    result.textContent = "";
    var place = report.municipality ? (cfg.lang === "en" ? report.municipality.name_en : report.municipality.name) : "";
    var list = el("ol", { class: "rows" });
    // Shelters recorded open first, then crowded, then the rest; the sort is stable: distance order kept.
    var rank = { open: 0, crowded: 1 };
    (report.shelters || []).slice().sort(function (a, b) {
      return (a.status in rank ? rank[a.status] : 2) - (b.status in rank ? rank[b.status] : 2);
    }).forEach(function (s) {
      list.appendChild(el("li", {}, [nameNode(s.name, s.name_readings),
        document.createTextNode(" — " + (cfg.shelter[s.status] || s.status) + " · " + away(s.distance_m))]));
    });
    result.appendChild(el("section", { class: "near", "aria-labelledby": "near-js-h" }, [
      el("h3", { id: "near-js-h", text: t("Your area: %(place)s", { place: place }) }),
      el("h4", { text: t("Nearest shelters") }), list,
    ]));
    drawNear({ point: report.point, shelters: (report.shelters || []).map(function (s) {
      return { name: s.name, lat: s.lat, lon: s.lon, status: s.status, distance: away(s.distance_m) };
    }) });
    if (report.municipality) {
      area = report.municipality.code;
      var q = new URLSearchParams(location.search);
      q.set("area", area);
      history.replaceState(null, "", "?" + q.toString());
      refreshList().catch(function (err) { console.error(err); });
      boundaries.eachLayer(function (layer) { layer.setStyle(areaStyle(layer.feature)); });
    }
  }
  if (button && navigator.geolocation) {
    button.hidden = false;
    button.addEventListener("click", function () {
      status.textContent = t("Finding your location…");
      navigator.geolocation.getCurrentPosition(function (pos) {
        var q = new URLSearchParams({ lat: pos.coords.latitude.toFixed(5), lon: pos.coords.longitude.toFixed(5) });
        getJSON("/api/v1/here?" + q.toString()).then(function (report) {
          status.textContent = "";
          showHere(report);
          map.setView([report.point.lat, report.point.lon], 13);
        }).catch(function () { status.textContent = t("Location unavailable: choose your municipality below."); });
      }, function () { status.textContent = t("Location unavailable: choose your municipality below."); },
      { timeout: 10000, maximumAge: 300000 });
    });
  }
})();
