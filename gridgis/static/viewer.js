/* The gridgis web viewer: loads GeoJSON tiles per zoom (simplified on the server) for the visible area,
 * keeps one copy of each feature per layer, and redraws on zoom. State for tests: window.gridgisViewer. */
(function () {
  "use strict";
  var GG = window.GridGIS;
  GG.config.relatedUrl = "/viewer/related/{layer}/{code}";
  GG.config.locateUrl = "/viewer/locate/{code}";
  GG.config.searchUrl = "/viewer/search?q=";
  GG.layersByKind = {};
  GG.config.whenIdle = function (fn) {
    (function wait() { if (state.pending === 0) { fn(); } else { setTimeout(wait, 30); } })();
  };
  var META = 1;  /* ask for tiles one zoom up: 512-px tiles, a quarter of the requests */
  var map = L.map("map", {preferCanvas: true, zoomSnap: 1});
  map.attributionControl.setPrefix(false);
  var state = {map: map, layers: {}, meta: null, zoom: null, pending: 0, loadedTiles: {}, seen: {},
    firstRender: null, bytes: 0, tiles: 0, errors: []};
  window.gridgisViewer = state;

  state.counts = function () {
    var out = {};
    for (var name in state.layers) { out[name] = Object.keys(state.seen[name] || {}).length; }
    return out;
  };

  function tileRange(bounds, z) {
    var n = Math.pow(2, z);
    function tx(lon) { return Math.min(n - 1, Math.max(0, Math.floor((lon + 180) / 360 * n))); }
    function ty(lat) {
      var r = lat * Math.PI / 180;
      return Math.min(n - 1, Math.max(0, Math.floor((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2 * n)));
    }
    return {x0: tx(bounds.getWest()), x1: tx(bounds.getEast()), y0: ty(bounds.getNorth()), y1: ty(bounds.getSouth())};
  }

  function done() {
    state.pending -= 1;
    if (state.pending === 0) {
      if (state.firstRender === null) { state.firstRender = performance.now(); }
      document.dispatchEvent(new CustomEvent("gridgis:idle"));
    }
  }

  function load(name, tz, x, y, z) {
    var key = name + "/" + tz + "/" + x + "/" + y;
    if (state.loadedTiles[key]) { return; }
    state.loadedTiles[key] = true;
    state.pending += 1;
    var crs = state.meta.basemap && state.meta.basemap.crs === "gcj02" ? "&crs=gcj02" : "";
    fetch("/tiles/" + key + ".geojson?zoom=" + z + crs).then(function (r) {
      if (!r.ok) { throw new Error("tile " + key + ": HTTP " + r.status); }
      return r.text();
    }).then(function (text) {
      state.bytes += text.length;
      state.tiles += 1;
      if (z !== state.zoom) { return; }
      var fc = JSON.parse(text), seen = state.seen[name], fresh = [];
      fc.features.forEach(function (f) { if (!seen[f.id]) { seen[f.id] = true; fresh.push(f); } });
      if (fresh.length) { state.layers[name].addData({type: "FeatureCollection", features: fresh}); }
    }).catch(function (err) {
      state.errors.push(String(err));
      delete state.loadedTiles[key];
    }).then(done);
  }

  function refresh() {
    var z = map.getZoom();
    if (z !== state.zoom) {
      state.zoom = z;
      state.loadedTiles = {};
      for (var name in state.layers) { state.layers[name].clearLayers(); state.seen[name] = {}; }
      GG.registry = {};
    }
    var tz = Math.max(0, z - META), range = tileRange(map.getBounds().pad(0.1), tz);
    state.pending += 1;
    state.meta.layers.forEach(function (info) {
      if (!map.hasLayer(state.layers[info.name]) || z < info.min_zoom || !info.count) { return; }
      for (var x = range.x0; x <= range.x1; x++) {
        for (var y = range.y0; y <= range.y1; y++) { load(info.name, tz, x, y, z); }
      }
    });
    done();
  }

  fetch("/viewer/meta").then(function (r) { return r.json(); }).then(function (meta) {
    state.meta = meta;
    Object.assign(GG.config.stationKinds, meta.station_kinds || {});
    var overlays = {}, bases = {};
    ((meta.basemap && meta.basemap.tiles) || []).forEach(function (t) {
      var tl = L.tileLayer(t.url, {attribution: t.attribution, subdomains: t.subdomains, maxZoom: 19});
      tl.addTo(map);
      if (t.overlay) { overlays[t.name] = tl; } else { bases[t.name] = tl; }
    });
    meta.layers.forEach(function (info) {
      var lyr = GG.geojsonLayer(info.name, null, {tooltips: info.name !== "micro_grids" && info.name !== "buildings"});
      state.layers[info.name] = lyr;
      GG.layersByKind[info.name] = lyr;
      state.seen[info.name] = {};
      overlays[info.label + "（" + info.count + "）"] = lyr;
      if (info.show) { lyr.addTo(map); }
    });
    L.control.layers(bases, overlays, {collapsed: false}).addTo(map);
    L.control.scale({imperial: false}).addTo(map);
    GG.decorate(map, {legend: {}});
    if (meta.bounds) {
      map.fitBounds([[meta.bounds[1], meta.bounds[0]], [meta.bounds[3], meta.bounds[2]]]);
    } else {
      map.setView([31.23, 121.5], 14);
    }
    map.on("moveend", refresh);
    map.on("overlayadd", refresh);
    refresh();
  }).catch(function (err) { state.errors.push(String(err)); });
})();
