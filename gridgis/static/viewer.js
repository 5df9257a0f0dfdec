/* The gridgis web viewer: loads GeoJSON tiles per zoom (simplified on the server) for the visible area,
 * keeps one copy of each feature per layer, and redraws on zoom; the densest layer (micro-grids) comes as
 * Mapbox Vector Tiles through Leaflet.VectorGrid when the plug-in is served and the browser can decode them.
 * State for tests: window.gridgisViewer. */
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
  /* minZoom 0: an MVT layer's minZoom must not become the map's */
  var map = L.map("map", {preferCanvas: true, zoomSnap: 1, minZoom: 0});
  map.attributionControl.setPrefix(false);
  var state = {map: map, layers: {}, meta: null, zoom: null, pending: 0, loadedTiles: {}, seen: {},
    firstRender: null, bytes: 0, tiles: 0, errors: [], mvtLayers: {}};
  window.gridgisViewer = state;

  /* GCJ-02, the offset coordinates AMap's tiles are drawn in. The store and every request body stay in
   * WGS84: with the AMap base map, what gridgis draws is shifted onto the tiles (toMap) and what the
   * planner draws is shifted back (fromMap) before it is sent. Forward: the published offset formula
   * (as gridgis/chinacoords.py); inverse: fixed-point iteration to far below a millimetre. */
  var GCJ_A = 6378245.0, GCJ_EE = 0.00669342162296594323, PI = Math.PI;
  function gcjInChina(lon, lat) { return lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271; }
  function gcjForward(lon, lat) {
    if (!gcjInChina(lon, lat)) { return [lon, lat]; }
    var x = lon - 105.0, y = lat - 35.0, sx = Math.sqrt(Math.abs(x));
    var waves = (20 * Math.sin(6 * x * PI) + 20 * Math.sin(2 * x * PI)) * 2 / 3;
    var dlat = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + waves +
      (20 * Math.sin(y * PI) + 40 * Math.sin(y / 3 * PI)) * 2 / 3 + (160 * Math.sin(y / 12 * PI) + 320 * Math.sin(y * PI / 30)) * 2 / 3;
    var dlon = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + waves +
      (20 * Math.sin(x * PI) + 40 * Math.sin(x / 3 * PI)) * 2 / 3 + (150 * Math.sin(x / 12 * PI) + 300 * Math.sin(x / 30 * PI)) * 2 / 3;
    var rad = lat / 180 * PI, magic = 1 - GCJ_EE * Math.sin(rad) * Math.sin(rad), sm = Math.sqrt(magic);
    dlat = (dlat * 180) / ((GCJ_A * (1 - GCJ_EE)) / (magic * sm) * PI);
    dlon = (dlon * 180) / (GCJ_A / sm * Math.cos(rad) * PI);
    return [lon + dlon, lat + dlat];
  }
  function gcjInverse(lon, lat) {
    var x = lon, y = lat;
    for (var i = 0; i < 20; i++) {
      var f = gcjForward(x, y), ex = f[0] - lon, ey = f[1] - lat;
      if (Math.abs(ex) < 1e-13 && Math.abs(ey) < 1e-13) { break; }
      x -= ex; y -= ey;
    }
    return [x, y];
  }
  state.gcj = {forward: gcjForward, inverse: gcjInverse};
  GG.config.toMap = function (c) { return state.toMap(c); };
  /* true when the base map is drawn in GCJ-02 (AMap) */
  state.shifted = function () { return !!(state.meta && state.meta.basemap && state.meta.basemap.crs === "gcj02"); };
  /* [lon, lat] in WGS84 -> the L.LatLng where it lies on the current base map (L.geoJSON's coordsToLatLng) */
  state.toMap = function (c) {
    var p = state.shifted() ? gcjForward(+c[0], +c[1]) : c;
    return c.length > 2 ? L.latLng(p[1], p[0], c[2]) : L.latLng(p[1], p[0]);
  };
  /* an L.LatLng on the current base map -> [lon, lat] in WGS84 */
  state.fromMap = function (ll) { return state.shifted() ? gcjInverse(ll.lng, ll.lat) : [ll.lng, ll.lat]; };
  /* a GeoJSON object read from the map (layer.toGeoJSON()) with its coordinates back in WGS84 */
  state.unshift = function (obj) {
    if (!state.shifted() || !obj) { return obj; }
    function coords(c) { return typeof c[0] === "number" ? gcjInverse(c[0], c[1]) : c.map(coords); }
    function geom(g) {
      if (!g) { return g; }
      if (g.type === "GeometryCollection") { return {type: g.type, geometries: g.geometries.map(geom)}; }
      return {type: g.type, coordinates: coords(g.coordinates)};
    }
    if (obj.type === "FeatureCollection") { return {type: obj.type, features: obj.features.map(state.unshift)}; }
    if (obj.type === "Feature") { return {type: "Feature", properties: obj.properties, geometry: geom(obj.geometry)}; }
    return geom(obj);
  };

  /* Layers drawn from MVT tiles (when possible): micro-grids, the densest layer. The others stay GeoJSON
   * tiles: the editor hit-tests grids, compounds and buildings on their features, stations are markers.
   * ?tiles=geojson forces GeoJSON everywhere. */
  var MVT_LAYERS = {micro_grids: true};
  state.mvt = !!(L.vectorGrid && L.vectorGrid.protobuf && window.fetch && window.ArrayBuffer && window.DataView) &&
    !/[?&]tiles=geojson\b/.test(window.location.search);

  function crsParam() {
    return state.meta.basemap && state.meta.basemap.crs === "gcj02" ? "&crs=gcj02" : "";
  }

  /* An MVT layer: SVG tiles (VectorGrid's canvas tiles call L.DomEvent.fakeStop, gone since Leaflet 1.8),
   * asked for with the generation so browsers and proxies may keep them; drawn below the GeoJSON layers,
   * its features found under a click by mvtFeatureAt. */
  function mvtLayer(info) {
    var name = info.name, styles = {};
    styles[name] = function (props) {
      state.seen[name][props.code] = true;
      var s = GG.style(name, props);
      s.fill = s.fill !== false;
      return s;
    };
    var lyr = L.vectorGrid.protobuf("/tiles/" + name + "/{z}/{x}/{y}.mvt?g={g}{crs}", {
      g: state.meta.generation == null ? "" : state.meta.generation, crs: crsParam(),
      rendererFactory: L.svg.tile, vectorTileLayerStyles: styles, interactive: true,
      minZoom: info.min_zoom, pane: "tilePane", zIndex: 5,
      getFeatureId: function (f) { return f.properties.code; }
    });
    /* counted in state.pending while its tiles load; GridLayer does not always fire "load" (tiles pruned by a
     * zoom, a zoom below minZoom), so the count is also settled after each view change */
    var busy = false;
    function settle() {
      var loading = map.hasLayer(lyr) && lyr._tiles && Object.keys(lyr._tiles).some(function (k) {
        return !lyr._tiles[k].loaded;
      });
      if (busy && !loading) { busy = false; state.tiles += 1; done(); }
    }
    lyr.on("loading", function () { if (!busy) { busy = true; state.pending += 1; } });
    lyr.on("load remove", function () { setTimeout(settle, 0); });
    map.on("zoomend moveend", function () { setTimeout(settle, 50); });
    lyr.on("tileerror", function (e) { state.errors.push("MVT tile " + name + " " + JSON.stringify(e.coords)); });
    lyr.ggLayer = name;
    state.mvtLayers[name] = lyr;
    return lyr;
  }

  /* The feature of an MVT layer under a point (the tile's decoded parts, in its pixels), or null. */
  function mvtFeatureAt(lyr, latlng) {
    var z = map.getZoom(), size = lyr.getTileSize(), p = map.project(latlng, z);
    var tx = Math.floor(p.x / size.x), ty = Math.floor(p.y / size.y);
    var tile = lyr._vectorTiles && lyr._vectorTiles[tx + ":" + ty + ":" + z];
    if (!tile || !tile._features) { return null; }
    var local = L.point(p.x - tx * size.x, p.y - ty * size.y), hit = null;
    for (var id in tile._features) {
      var f = tile._features[id].feature;
      if (!f._pxBounds && f._getPixelBounds) { f._pxBounds = f._getPixelBounds(); }
      if (f._containsPoint && f._containsPoint(local)) { hit = f; }
    }
    return hit;
  }
  state.mvtFeatureAt = function (name, latlng) {
    var lyr = state.mvtLayers[name];
    return lyr && map.hasLayer(lyr) ? mvtFeatureAt(lyr, latlng) : null;
  };

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
    fetch("/tiles/" + key + ".geojson?zoom=" + z + crsParam()).then(function (r) {
      if (!r.ok) { throw new Error("tile " + key + ": HTTP " + r.status); }
      return r.text();
    }).then(function (text) {
      state.bytes += text.length;
      state.tiles += 1;
      if (z !== state.zoom) { return; }
      var fc = JSON.parse(text), seen = state.seen[name], fresh = [];
      fc.features.forEach(function (f) { if (!seen[f.id]) { seen[f.id] = true; fresh.push(f); } });
      if (name === "grids") { fresh.forEach(function (f) { withWorkload(f.properties); }); }
      if (fresh.length) { state.layers[name].addData({type: "FeatureCollection", features: fresh}); }
    }).catch(function (err) {
      state.errors.push(String(err));
      delete state.loadedTiles[key];
    }).then(done);
  }

  /* Grids coloured by ticket figures (GET /tickets/stats, every month summed): volume, on-time rate or
   * satisfaction rate, five classes of equal width; "none" takes the colours off. */
  var WORKLOAD = {
    volume: {label: "工单量", goodHigh: false, value: function (w) { return w.volume; }},
    on_time_rate: {label: "按时办结率", goodHigh: true, value: function (w) { return w.on_time_rate; }},
    satisfaction_rate: {label: "满意率", goodHigh: true, value: function (w) { return w.satisfaction_rate; }}
  };
  var RAMP_GOOD_HIGH = ["#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641"];
  state.workload = {metric: "none", byGrid: {}, colors: {}};

  function ratio(a, b) { return b ? a / b : null; }

  function summarise(rows) {
    var by = {};
    rows.forEach(function (r) {
      var w = by[r.grid_code] || (by[r.grid_code] = {volume: 0, resolved: 0, on_time: 0, rated: 0, satisfied: 0});
      w.volume += r.volume; w.resolved += r.resolved; w.on_time += r.on_time; w.rated += r.rated;
      w.satisfied += Math.round((r.satisfaction_rate || 0) * r.rated);
    });
    Object.keys(by).forEach(function (code) {
      var w = by[code];
      w.on_time_rate = ratio(w.on_time, w.resolved);
      w.satisfaction_rate = ratio(w.satisfied, w.rated);
    });
    return by;
  }

  function fmt(metric, v, span) {  /* counts whole where the classes are wide, to a tenth where narrow */
    if (metric !== "volume") { return Math.round(v * 100) + "%"; }
    return span >= 10 ? String(Math.round(v)) : v.toFixed(1);
  }

  function classify(metric) {
    var spec = WORKLOAD[metric], colors = {}, values = [];
    state.workload.legend = [];
    if (!spec) { return colors; }
    Object.keys(state.workload.byGrid).forEach(function (code) {
      var v = spec.value(state.workload.byGrid[code]);
      if (v != null) { values.push([code, v]); }
    });
    if (!values.length) { return colors; }
    var lo = Math.min.apply(null, values.map(function (p) { return p[1]; }));
    var hi = Math.max.apply(null, values.map(function (p) { return p[1]; }));
    var ramp = spec.goodHigh ? RAMP_GOOD_HIGH : RAMP_GOOD_HIGH.slice().reverse();
    values.forEach(function (p) {
      var k = hi === lo ? 2 : Math.min(4, Math.floor((p[1] - lo) / (hi - lo) * 5));
      colors[p[0]] = ramp[k];
    });
    for (var k = 0; k < 5; k++) {  /* the classes' value ranges, for the legend under the control */
      if (hi === lo && k !== 2) { continue; }
      var a = lo + (hi - lo) * k / 5, b = lo + (hi - lo) * (k + 1) / 5;
      state.workload.legend.push({color: ramp[k],
        text: hi === lo ? fmt(metric, lo, 10) : fmt(metric, a, hi - lo) + " – " + fmt(metric, b, hi - lo)});
    }
    return colors;
  }

  function withWorkload(props) {
    var w = state.workload.byGrid[props.code];
    props.tickets = w ? w.volume : (state.workload.metric === "none" ? props.tickets : 0);
    props.on_time_rate = w ? w.on_time_rate : null;
    props.satisfaction = w ? w.satisfaction_rate : null;
    props._color = state.workload.colors[props.code] || null;
    return props;
  }

  state.showWorkload = function (metric) {
    state.workload.metric = metric;
    state.workload.colors = classify(metric);
    var box = document.querySelector(".gg-workload-legend");
    if (box) {
      box.innerHTML = state.workload.legend.map(function (c) {
        return '<div><i class="gg-box" style="background:' + c.color + '"></i>' + GG.esc(c.text) + "</div>";
      }).join("") + (metric !== "none" && !state.workload.legend.length ? "<div>暂无工单</div>" : "");
    }
    var grids = state.layers.grids;
    if (!grids) { return; }
    grids.eachLayer(function (l) {
      if (l.feature) { l.setStyle(GG.style("grids", withWorkload(l.feature.properties))); }
    });
  };

  function workloadControl() {
    var ctl = L.control({position: "topright"});
    ctl.onAdd = function () {
      var div = L.DomUtil.create("div", "gg-workload leaflet-bar");
      var options = '<option value="none">网格着色：无</option>';
      Object.keys(WORKLOAD).forEach(function (k) { options += '<option value="' + k + '">按' + WORKLOAD[k].label + "</option>"; });
      div.innerHTML = "<select title=\"网格工作量\">" + options + "</select><div class=\"gg-workload-legend\"></div>";
      L.DomEvent.disableClickPropagation(div);
      div.querySelector("select").addEventListener("change", function (e) {
        var metric = e.target.value;
        if (metric === "none" || state.workload.loaded) { state.showWorkload(metric); return; }
        state.pending += 1;
        fetch("/tickets/stats").then(function (r) {
          if (!r.ok) { throw new Error("ticket statistics: HTTP " + r.status); }
          return r.json();
        }).then(function (body) {
          state.workload.byGrid = summarise(body.rows || []);
          state.workload.loaded = true;
          state.showWorkload(metric);
        }).catch(function (err) { state.errors.push(String(err)); }).then(done);
      });
      return div;
    };
    return ctl;
  }

  function refresh() {
    var z = map.getZoom();
    if (z !== state.zoom) {
      state.zoom = z;
      state.loadedTiles = {};
      for (var name in state.layers) {
        if (state.layers[name].clearLayers) { state.layers[name].clearLayers(); }
        state.seen[name] = {};
      }
      GG.registry = {};
    }
    var tz = Math.max(0, z - META), range = tileRange(map.getBounds().pad(0.1), tz);
    state.pending += 1;
    state.meta.layers.forEach(function (info) {
      if (state.mvtLayers[info.name]) { return; }  /* VectorGrid loads its own tiles */
      if (!map.hasLayer(state.layers[info.name]) || z < info.min_zoom || !info.count) { return; }
      for (var x = range.x0; x <= range.x1; x++) {
        for (var y = range.y0; y <= range.y1; y++) { load(info.name, tz, x, y, z); }
      }
    });
    done();
  }

  /* Base maps: none / OSM / Tianditu / AMap (overlays asked for in GCJ-02 to line up with AMap).
   * A base map that cannot be used (Tianditu without a key) shows why, and the overlays stay. */
  function notice(text) {
    var box = document.querySelector(".gg-notice");
    if (!box) { return; }
    box.style.display = text ? "block" : "none";
    box.textContent = text || "";
  }
  state.setBasemap = function (name, first) {
    var choice = (state.meta.basemaps || [state.meta.basemap]).filter(function (b) { return b.name === name; })[0];
    if (!choice) { return; }
    state.basemapLayers.forEach(function (l) { map.removeLayer(l); });
    state.basemapLayers = (choice.tiles || []).map(function (t) {
      return L.tileLayer(t.url, {attribution: t.attribution, subdomains: t.subdomains, maxZoom: 19}).addTo(map);
    });
    state.basemapLayers.forEach(function (l) { l.bringToBack(); });
    notice(choice.message);
    var sel = document.querySelector(".gg-basemap select");
    if (sel) { sel.value = name; }
    var crsChanged = (state.meta.basemap && state.meta.basemap.crs) !== choice.crs;
    state.meta.basemap = choice;
    if (crsChanged && !first) {
      state.reload();
      /* the thematic views and the editor draw again in the new coordinates */
      Object.keys(state.views.layers).forEach(function (name) {
        if ((state.views.layers[name] || []).length) { state.showView(name, true); }
      });
      document.dispatchEvent(new CustomEvent("gridgis:crs", {detail: {crs: choice.crs || "wgs84"}}));
    }
  };
  function basemapControl() {
    var ctl = L.control({position: "topright"});
    ctl.onAdd = function () {
      var div = L.DomUtil.create("div", "gg-basemap leaflet-bar");
      div.innerHTML = '<select title="底图">' + (state.meta.basemaps || []).map(function (b) {
        return '<option value="' + GG.esc(b.name) + '">底图：' + GG.esc(b.label) + "</option>";
      }).join("") + "</select>";
      L.DomEvent.disableClickPropagation(div);
      div.querySelector("select").addEventListener("change", function (e) { state.setBasemap(e.target.value); });
      return div;
    };
    return ctl;
  }
  var noticeCtl = L.control({position: "bottomleft"});
  noticeCtl.onAdd = function () {
    var d = L.DomUtil.create("div", "gg-notice");
    d.style.display = "none";
    return d;
  };
  noticeCtl.addTo(map);

  /* The thematic views of `gridgis map --view …` as layers: alignment, ticket heat, life-circle coverage. */
  state.views = {layers: {}, data: {}};
  function getView(name, params) {
    state.pending += 1;
    return fetch("/viewer/views/" + name + (params ? "?" + params : "")).then(function (r) {
      if (!r.ok) { return r.json().then(function (b) { throw new Error(b.detail || ("HTTP " + r.status)); }); }
      return r.json();
    }).then(function (body) { state.views.data[name] = body; return body; }, function (err) {
      var info = document.querySelector(".gg-views-info");
      if (info) { info.textContent = String(err.message || err); }
      throw err;
    }).finally(done);
  }
  function dropView(name) {
    (state.views.layers[name] || []).forEach(function (l) { map.removeLayer(l); });
    state.views.layers[name] = [];
  }
  var VIEWS = {
    alignment: function () {
      return getView("alignment").then(function (b) {
        return [GG.geojsonLayer("proposed_grids", b.proposed_grids, {coordsToLatLng: state.toMap}),
          GG.geojsonLayer("cut_compounds", b.cut_compounds, {coordsToLatLng: state.toMap})];
      });
    },
    heat: function () {
      return getView("heat").then(function (b) {
        if (!b.count) { document.querySelector(".gg-views-info").textContent = "没有工单，热力图为空。"; }
        var pts = b.points.map(function (p) { var ll = state.toMap([p[1], p[0]]); return [ll.lat, ll.lng, p[2]]; });
        return [new GG.HeatLayer(pts, {radius: 20})];
      });
    },
    coverage: function () {
      var circle = document.querySelector(".gg-views [name=circle]").value;
      var kind = document.querySelector(".gg-views [name=kind]").value;
      var roads = document.querySelector(".gg-views [name=roads]");
      var params = "circle=" + circle + (kind ? "&kind=" + encodeURIComponent(kind) : "") + (roads && !roads.checked ? "&roads=false" : "");
      return getView("coverage", params).then(function (b) {
        var kindSel = document.querySelector(".gg-views [name=kind]");
        if (kindSel.options.length <= 1) {
          kindSel.innerHTML = '<option value="">最差的站点类型</option>' + b.kinds.map(function (k) {
            return '<option value="' + GG.esc(k) + '">' + GG.esc(GG.config.stationKinds[k] || k) + "</option>";
          }).join("");
        }
        var info = document.querySelector(".gg-views-info");
        /* with roads that cover only part of the area, say so where the figures are */
        var partial = b.roads_share != null && b.roads_share < 0.995 ?
          '<div class="gg-views-roads">路网只覆盖 ' + Math.round(b.roads_share * 100) + "% 的户数，路网以外按直线距离×1.3 计算。</div>" : "";
        info.innerHTML = "<b>" + GG.esc(b.circle) + " · " + GG.esc(b.kind_zh) + "</b><div>" + GG.esc(b.method) + "</div>" + partial + "<table>" +
          b.table.map(function (r) {
            return "<tr><td>" + GG.esc(r.community_name) + "</td><td>" + Math.round(r.covered_households) + " / " +
              Math.round(r.households) + " 户</td><td>" + (r.share == null ? "" : Math.round(r.share * 100) + "%") + "</td></tr>";
          }).join("") + "</table>";
        return [GG.geojsonLayer("service_areas", b.service_areas, {tooltips: false, coordsToLatLng: state.toMap}),
          GG.geojsonLayer("uncovered", b.uncovered, {tooltips: false, coordsToLatLng: state.toMap})];
      });
    }
  };
  state.showView = function (name, on) {
    dropView(name);
    if (!on) { if (name === "coverage") { document.querySelector(".gg-views-info").innerHTML = ""; } return Promise.resolve(); }
    return VIEWS[name]().then(function (layers) {
      state.views.layers[name] = layers;
      layers.forEach(function (l) { l.addTo(map); });
    }).catch(function (err) { state.views.error = String(err.message || err); });
  };
  function viewsControl() {
    var ctl = L.control({position: "topright"});
    ctl.onAdd = function () {
      var div = L.DomUtil.create("div", "gg-views leaflet-bar");
      div.innerHTML = "<b>专题图层</b>" +
        '<label><input type="checkbox" data-view="alignment"> 对齐：被切分小区、建议网格线</label>' +
        '<label><input type="checkbox" data-view="heat"> 工单热力</label>' +
        '<label><input type="checkbox" data-view="coverage"> 生活圈覆盖 ' +
        '<select name="circle"><option value="5min">5分钟</option><option value="10min">10分钟</option>' +
        '<option value="15min" selected>15分钟</option></select> <select name="kind"><option value="">最差的站点类型</option></select></label>' +
        (state.meta.roads ? '<label class="gg-views-roadopt"><input type="checkbox" name="roads" checked> 沿路网步行（否则直线×1.3）</label>' : "") +
        '<div class="gg-views-info"></div>';
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      div.querySelectorAll("[data-view]").forEach(function (box) {
        box.addEventListener("change", function () { state.showView(box.getAttribute("data-view"), box.checked); });
      });
      div.querySelectorAll("select, [name=roads]").forEach(function (sel) {
        sel.addEventListener("change", function () {
          if (div.querySelector("[data-view=coverage]").checked) { state.showView("coverage", true); }
        });
      });
      return div;
    };
    return ctl;
  }

  /* Throw the loaded tiles away and load them again (after a commit: a new generation; MVT tiles are asked
   * for with the new generation, so no cached tile of the old one is used). */
  state.reload = function () {
    state.zoom = null;
    if (!state.meta) { return; }
    refresh();
    var names = Object.keys(state.mvtLayers);
    if (!names.length) { return; }
    state.pending += 1;
    fetch("/viewer/meta").then(function (r) { return r.json(); }).then(function (meta) {
      state.meta.generation = meta.generation;
      names.forEach(function (name) {
        var lyr = state.mvtLayers[name];
        lyr.options.g = meta.generation == null ? "" : meta.generation;
        lyr.options.crs = crsParam();
        state.seen[name] = {};
        lyr.redraw();
      });
    }).catch(function (err) { state.errors.push(String(err)); }).then(done);
  };

  fetch("/viewer/meta").then(function (r) { return r.json(); }).then(function (meta) {
    state.meta = meta;
    Object.assign(GG.config.stationKinds, meta.station_kinds || {});
    var overlays = {}, bases = {};
    state.basemapLayers = [];
    meta.layers.forEach(function (info) {
      var lyr = state.mvt && MVT_LAYERS[info.name] ? mvtLayer(info) :
        GG.geojsonLayer(info.name, null, {tooltips: info.name !== "micro_grids" && info.name !== "buildings"});
      state.layers[info.name] = lyr;
      GG.layersByKind[info.name] = lyr;
      state.seen[info.name] = {};
      overlays[info.label + "（" + info.count + "）"] = lyr;
      if (info.show) { lyr.addTo(map); }
    });
    L.control.layers(bases, overlays, {collapsed: false}).addTo(map);
    if (state.layers.grids && Object.keys(state.mvtLayers).length) {
      /* MVT layers lie under the GeoJSON canvas: a click on a grid opens the micro-grid under it, drawn above */
      state.layers.grids.on("click", function (e) {
        for (var name in state.mvtLayers) {
          var f = state.mvtFeatureAt(name, e.latlng);
          if (f) {
            if (e.layer && e.layer.closePopup) { e.layer.closePopup(); }
            L.popup({maxWidth: 320, autoPan: false}).setLatLng(e.latlng).setContent(GG.popup(name, f.properties)).openOn(map);
            return;
          }
        }
      });
    }
    basemapControl().addTo(map);
    state.setBasemap(meta.basemap.name, true);
    viewsControl().addTo(map);
    workloadControl().addTo(map);
    L.control.scale({imperial: false}).addTo(map);
    GG.decorate(map, {legend: {}});
    if (meta.bounds) {
      map.fitBounds([state.toMap([meta.bounds[0], meta.bounds[1]]), state.toMap([meta.bounds[2], meta.bounds[3]])]);
    } else {
      map.setView([31.23, 121.5], 14);
    }
    map.on("moveend", refresh);
    map.on("overlayadd", refresh);
    refresh();
    state.ready = true;  /* extra scripts (the editor, other panels) start on this event */
    document.dispatchEvent(new CustomEvent("gridgis:ready"));
  }).catch(function (err) { state.errors.push(String(err)); });
})();
