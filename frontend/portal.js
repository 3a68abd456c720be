// The portal map: municipality boundaries coloured by warning level, gauges, cameras, road
// closures and shelters from /api/v1/events; "near me" from /api/v1/here; live updates over SSE.
// Everything here is also in the server-rendered list, which works without this script.
// Untrusted text (titles, names) only ever goes in through textContent, never innerHTML.
(function () {
  "use strict";
  var dataEl = document.getElementById("portal-data");
  if (!dataEl || typeof L === "undefined") return;
  var cfg = JSON.parse(dataEl.textContent);
  var S = cfg.strings;
  var AREAL = { sediment_warning: 1, flood_forecast: 1, weather_warning: 1, notice: 1 };
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
  function levelText(n) {
    var lv = cfg.levels[String(n)];
    return n ? t("Level %(n)d: %(name)s", { n: n, name: lv.name }) : lv.label;
  }
  function badge(n) {
    var lv = cfg.levels[String(n)];
    return el("span", { class: "badge lv" + n }, [
      el("span", { class: "badge-num", text: lv.label }), document.createTextNode(" "),
      el("span", { class: "badge-name", text: lv.name }),
    ]);
  }
  function hhmm(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    return d.toLocaleTimeString("ja-JP", { hour: "2-digit", minute: "2-digit", timeZone: "Asia/Tokyo" });
  }
  function pinIcon(cls, label) {
    var html = el("span", { class: "pin " + cls, "aria-hidden": "true", text: label }).outerHTML;
    return L.divIcon({ className: "pin-wrap", html: html, iconSize: [30, 30], iconAnchor: [15, 15], popupAnchor: [0, -12] });
  }

  var b = cfg.bounds;
  var map = L.map("map", { zoomSnap: 0.25, minZoom: 7, maxZoom: 16, attributionControl: true });
  map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
  map.attributionControl.addAttribution("国土数値情報（行政区域）");
  map.fitBounds([[b[1], b[0]], [b[3], b[2]]]);
  var boundaries = L.geoJSON(null, { style: areaStyle, onEachFeature: bindArea }).addTo(map);
  var labels = L.layerGroup().addTo(map);
  var roads = L.layerGroup().addTo(map);
  var points = L.layerGroup().addTo(map);
  var nearLayer = L.layerGroup().addTo(map);
  var areaLevels = {};

  function areaStyle(feature) {
    var n = areaLevels[feature.properties.code] || 0;
    var lv = cfg.levels[String(n)];
    return { color: "#4a4a4a", weight: n ? 2 : 1, fillColor: n ? lv.colour : "#f3f1ea", fillOpacity: n ? 0.6 : 1 };
  }
  function placeName(p) { return cfg.lang === "en" ? p.name_en : p.name; }
  // A municipality under a warning shows its level number on the map at all zooms (colour is
  // never alone); its name and the level's words are in the tooltip and in the list.
  function bindArea(feature, layer) {
    var n = areaLevels[feature.properties.code] || 0;
    layer.bindTooltip(placeName(feature.properties) + " — " + levelText(n), { sticky: true });
    if (n) {
      var at = feature.properties.label;
      labels.addLayer(L.marker([at[1], at[0]], {
        icon: pinIcon("area lv" + n, String(n)), interactive: false, keyboard: false, zIndexOffset: -1000,
      }));
    }
  }

  function gaugeMarker(f, ll) {
    var p = f.properties, n = p.level, name = (p.properties && p.properties.name) || p.title;
    // Level 1 (水防団待機) is common in rain: a smaller pin keeps higher levels readable.
    var icon = n ? pinIcon("gauge lv" + n + (n === 1 ? " minor" : ""), String(n)) : pinIcon("gauge lv0 small", "");
    var m = L.marker(ll, { icon: icon, title: t("River gauge") + ": " + name + " — " + levelText(n),
      alt: name, keyboard: true, riseOnHover: true, zIndexOffset: n * 100 });
    m.bindPopup(function () {
      var lm = p.properties && p.properties.level_m;
      return el("div", {}, [el("h3", { lang: "ja", text: name }), el("p", {}, [badge(n)]),
        lm == null ? null : el("p", { text: t("Water level") + ": " + lm.toFixed(2) + " m" }),
        p.observed_at ? el("p", { text: t("as of %(t)s", { t: hhmm(p.observed_at) }) }) : null]);
    });
    return m;
  }
  function cameraMarker(f, ll) {
    var p = f.properties, name = (p.properties && p.properties.name) || p.title;
    var key = f.id.slice(f.id.indexOf(":") + 1);
    var m = L.marker(ll, { icon: pinIcon("camera", "\u25A3"), title: t("Camera") + ": " + name, alt: name, keyboard: true });
    m.bindPopup(function () {
      return el("figure", {}, [
        el("img", { src: "/api/v1/cameras/" + encodeURIComponent(key) + "/image", alt: t("Image of %(name)s", { name: name }),
          width: "280", height: "158", loading: "lazy" }),
        el("figcaption", { text: name + (p.observed_at ? " — " + t("as of %(t)s", { t: hhmm(p.observed_at) }) : "") }),
      ]);
    }, { minWidth: 280 });
    return m;
  }
  function shelterMarker(f, ll) {
    var p = f.properties, status = (p.properties && p.properties.status) || "unknown";
    var name = (p.properties && p.properties.name) || p.title;
    var words = cfg.shelter[status] || status;
    var m = L.marker(ll, { icon: pinIcon("shelter " + status, status === "closed" ? "\u00D7" : "\u2302"),
      title: t("Shelter") + ": " + name + " — " + words, alt: name, keyboard: true });
    m.bindPopup(function () { return el("div", {}, [el("h3", { lang: "ja", text: name }), el("p", { text: words })]); });
    return m;
  }
  function roadLayer(f) {
    var p = f.properties, props = p.properties || {};
    var label = t("Road closure") + ": " + (props.route || p.title) + (props.section ? " " + props.section : "");
    if (f.geometry.type === "Point") {
      var c = f.geometry.coordinates;
      return L.marker([c[1], c[0]], { icon: pinIcon("road", "\u00D7"), title: label, alt: label, keyboard: true })
        .bindPopup(function () { return el("p", { text: label + (props.regulation ? " — " + props.regulation : "") }); });
    }
    return L.geoJSON(f, { style: { color: "#b00020", weight: 6, dashArray: "8 6", opacity: 0.95 } })
      .bindTooltip(label, { sticky: true })
      .bindPopup(function () { return el("p", { text: label + (props.regulation ? " — " + props.regulation : "") }); });
  }

  function drawEvents(collection) {
    areaLevels = {};
    roads.clearLayers();
    points.clearLayers();
    collection.features.forEach(function (f) {
      var p = f.properties;
      if (AREAL[p.kind] && p.level > 0) {
        (p.areas || []).forEach(function (code) { areaLevels[code] = Math.max(areaLevels[code] || 0, p.level); });
        return;
      }
      if (!f.geometry) return;
      if (p.kind === "road_closure") { roads.addLayer(roadLayer(f)); return; }
      if (f.geometry.type !== "Point") return;
      var ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
      if (p.kind === "gauge") points.addLayer(gaugeMarker(f, ll));
      else if (p.kind === "camera") points.addLayer(cameraMarker(f, ll));
      else if (p.kind === "shelter") points.addLayer(shelterMarker(f, ll));
    });
    labels.clearLayers();
    boundaries.eachLayer(function (layer) {
      layer.setStyle(areaStyle(layer.feature));
      layer.unbindTooltip();
      bindArea(layer.feature, layer);
    });
    document.getElementById("map").setAttribute("data-features", String(points.getLayers().length + roads.getLayers().length));
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
    return loadEvents();
  }).catch(function (err) { console.error(err); });

  // The list is rendered by the server; on a change it is fetched again and swapped in whole.
  function refreshList() {
    var q = new URLSearchParams({ lang: cfg.lang, partial: "list" });
    if (area) q.set("area", area);
    return fetch("/?" + q.toString(), { cache: "no-cache" }).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
      if (!html) return;
      var holder = document.createElement("div");
      holder.innerHTML = html; // our own server-rendered, autoescaped HTML
      ["portal-status", "portal-list"].forEach(function (id) {
        var current = document.getElementById(id), fresh = holder.querySelector("#" + id);
        if (current && fresh) current.replaceWith(fresh);
      });
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

  // "Near me": browser location -> /api/v1/here; on refusal the municipality picker remains.
  var button = document.getElementById("near-me");
  var status = document.getElementById("near-status");
  var result = document.getElementById("near-result");
  function showHere(report) {
    result.textContent = "";
    var place = report.municipality ? (cfg.lang === "en" ? report.municipality.name_en : report.municipality.name) : "";
    var list = el("ol", { class: "rows" });
    (report.shelters || []).forEach(function (s) {
      var away = s.distance_m < 1000 ? Math.round(s.distance_m) + " m" : (s.distance_m / 1000).toFixed(1) + " km";
      list.appendChild(el("li", {}, [el("span", { lang: "ja", class: "what", text: s.name }),
        document.createTextNode(" — " + (cfg.shelter[s.status] || s.status) + " · " + away)]));
    });
    result.appendChild(el("section", { class: "near", "aria-labelledby": "near-js-h" }, [
      el("h3", { id: "near-js-h", text: t("Your area: %(place)s", { place: place }) }),
      el("p", {}, [badge(report.level)]),
      el("h4", { text: t("Nearest shelters") }), list,
    ]));
    nearLayer.clearLayers();
    nearLayer.addLayer(L.circleMarker([report.point.lat, report.point.lon], { radius: 9, color: "#0050b3", weight: 3 }));
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
          map.setView([report.point.lat, report.point.lon], 12);
        }).catch(function () { status.textContent = t("Location unavailable: choose your municipality below."); });
      }, function () { status.textContent = t("Location unavailable: choose your municipality below."); },
      { timeout: 10000, maximumAge: 300000 });
    });
  }
})();
