/* gridgis map kit: styles, station icons, Chinese popups, legend, full screen, search and a heat layer.
 * Plain Leaflet 1.9 (self-hosted); no other library, nothing fetched from outside the page's own origin.
 * Used by saved maps (inlined) and by the /map viewer (served from /static). */
(function (global) {
  "use strict";
  var GG = {};
  GG.config = {
    stationKinds: {party_mass_centre: "党群服务中心", micro_station: "小区(网格)微站", red_station: "红色驿站",
      courier_station: "小蜜蜂驿站/骑手之家", help_desk: "帮办代办点", canteen: "社区食堂", mediation_room: "调解工作室"},
    compoundKinds: {residential: "居住型", transitional: "过渡型", aging: "老旧型", work_unit: "单位型"},
    levels: {street: "街道级", community: "社区级", compound: "小区级", grid: "网格级"},
    roles: {full_time: "专职", part_time: "兼职", auxiliary: "辅助"},
    layers: {streets: "街道", communities: "社区", compounds: "小区", buildings: "楼栋", grids: "网格",
      micro_grids: "微网格", stations: "服务站点", tickets: "工单", cut_compounds: "被切分小区",
      proposed_grids: "建议网格线", uncovered: "未覆盖区域", service_areas: "服务范围", sites: "建议新站点"},
    relatedUrl: null,   /* viewer: "/viewer/related/{layer}/{code}" */
    locateUrl: null,    /* viewer: "/viewer/locate/{code}" */
    searchUrl: null     /* viewer: "/viewer/search?q=" */
  };
  GG.stationStyle = {
    party_mass_centre: ["#c62828", "党"], micro_station: ["#ef6c00", "微"], red_station: ["#ad1457", "驿"],
    courier_station: ["#f9a825", "骑"], help_desk: ["#1565c0", "帮"], canteen: ["#2e7d32", "食"],
    mediation_room: ["#6a1b9a", "调"]
  };
  GG.compoundColors = {residential: "#43a047", transitional: "#fb8c00", aging: "#8d6e63", work_unit: "#3949ab"};
  GG.layerStyle = {
    streets: {color: "#37474f", weight: 3, fill: false, dashArray: "8 4"},
    communities: {color: "#00695c", weight: 2, fillOpacity: 0.03},
    grids: {color: "#1e88e5", weight: 1.5, fillOpacity: 0.06},
    micro_grids: {color: "#64b5f6", weight: 0.6, fillOpacity: 0.02},
    buildings: {color: "#5d4037", weight: 0.5, fillColor: "#bcaaa4", fillOpacity: 0.7},
    cut_compounds: {color: "#d50000", weight: 2, fillColor: "#ff5252", fillOpacity: 0.35},
    proposed_grids: {color: "#ff6f00", weight: 2.5, dashArray: "6 4", fill: false},
    uncovered: {color: "#b71c1c", weight: 1, fillColor: "#e53935", fillOpacity: 0.25, dashArray: "3 3"},
    service_areas: {color: "#2e7d32", weight: 1, fillColor: "#66bb6a", fillOpacity: 0.15}
  };
  GG.registry = {};

  function esc(v) {
    return String(v == null ? "" : v).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  GG.esc = esc;

  GG.style = function (layer, props) {
    var base = GG.layerStyle[layer] || {color: "#546e7a", weight: 1, fillOpacity: 0.1};
    var s = {};
    for (var k in base) { s[k] = base[k]; }
    if (layer === "compounds") {
      var c = GG.compoundColors[props.kind] || "#78909c";
      s = {color: c, weight: 1.2, fillColor: c, fillOpacity: 0.35};
    }
    if (props && props._color) { s.fillColor = props._color; s.fillOpacity = 0.6; s.fill = true; }
    return s;
  };

  GG.stationIcon = function (kind) {
    var st = GG.stationStyle[kind] || ["#546e7a", "站"];
    var svg = '<svg width="28" height="36" viewBox="0 0 28 36">' +
      '<path d="M14 35 C14 35 2 21 2 13 A12 12 0 0 1 26 13 C26 21 14 35 14 35 Z" fill="' + st[0] +
      '" stroke="#fff" stroke-width="2"/><text x="14" y="18" text-anchor="middle" font-size="12" ' +
      'font-family="sans-serif" fill="#fff" font-weight="bold">' + st[1] + '</text></svg>';
    return L.divIcon({html: svg, className: "gg-station gg-station-" + kind, iconSize: [28, 36],
      iconAnchor: [14, 35], popupAnchor: [0, -32]});
  };

  function row(label, value) {
    if (value == null || value === "" || (Array.isArray(value) && !value.length)) { return ""; }
    return "<tr><th>" + esc(label) + "</th><td>" + value + "</td></tr>";
  }
  function list(items) {
    if (!items) { return ""; }
    if (typeof items === "string") { try { items = JSON.parse(items); } catch (e) { return esc(items); } }
    return items.map(esc).join("、");
  }
  function workers(items) {
    if (typeof items === "string") { try { items = JSON.parse(items); } catch (e) { return esc(items); } }
    if (!items || !items.length) { return ""; }
    return items.map(function (w) {
      return esc(w.name) + (w.role ? "（" + esc(GG.config.roles[w.role] || w.role) + "）" : "") +
        (w.phone ? " " + esc(w.phone) : "");
    }).join("<br>");
  }
  function links(items) {
    if (!items || !items.length) { return "无"; }
    return items.map(function (it) {
      return '<a href="#" class="gg-link" data-gg-code="' + esc(it[0]) + '">' + esc(it[1] || it[0]) + "</a>";
    }).join("、");
  }
  function pct(v) { return v == null || v === "" ? "" : (Number(v) * 100).toFixed(1) + "%"; }

  GG.popup = function (layer, p) {
    var title = esc(p.name || p.code || "");
    var h = '<div class="gg-popup"><div class="gg-popup-title">' + title + '</div><div class="gg-popup-layer">' +
      esc(GG.config.layers[layer] || layer) + "</div><table>";
    h += row("编码", esc(p.code));
    if (layer === "stations") {
      h += row("类型", esc(GG.config.stationKinds[p.kind] || p.kind));
      h += row("层级", esc(GG.config.levels[p.level] || p.level));
      h += row("开放时间", esc(p.opening_hours));
      h += row("服务内容", list(p.services));
      h += row("联系方式", esc(p.contact));
      h += row("地址", esc(p.address));
    } else if (layer === "compounds" || layer === "cut_compounds") {
      h += row("类型", esc(GG.config.compoundKinds[p.kind] || p.kind));
      h += row("户数", esc(p.households));
      if (p.has_property_management != null) { h += row("物业管理", p.has_property_management ? "有" : "无"); }
      if (p.grid_codes) { h += row("涉及网格", esc(p.grid_codes)); }
    } else if (layer === "grids" || layer === "micro_grids") {
      h += row("户数", esc(p.households));
      h += row("网格员", workers(p.workers));
      h += row("工单数", esc(p.tickets));
      h += row("按时办结率", pct(p.on_time_rate));
      h += row("满意率", pct(p.satisfaction));
      if (layer === "grids") {
        h += row("小区", p._compounds ? links(p._compounds) : '<span class="gg-related" data-kind="compounds">…</span>');
        h += row("站点", p._stations ? links(p._stations) : '<span class="gg-related" data-kind="stations">…</span>');
      }
    } else {
      h += row("户数", esc(p.households));
      h += row("人口", esc(p.population));
      if (p.kind_zh) { h += row("类型", esc(p.kind_zh)); }
      if (p.new_households != null) { h += row("新增覆盖户数", esc(Math.round(p.new_households))); }
    }
    return h + "</table></div>";
  };

  /* A GeoJSON layer with our styles, icons, popups and a tooltip; features are registered by code. */
  GG.geojsonLayer = function (layer, data, opts) {
    opts = opts || {};
    var lyr = L.geoJSON(data, {
      coordsToLatLng: opts.coordsToLatLng,  /* the viewer's GCJ-02 shift under AMap; default: as given */
      style: function (f) { return GG.style(layer, f.properties || {}); },
      pointToLayer: function (f, latlng) {
        if (layer === "stations") { return L.marker(latlng, {icon: GG.stationIcon(f.properties.kind)}); }
        if (layer === "sites") {
          return L.marker(latlng, {icon: L.divIcon({className: "gg-site", html: "★", iconSize: [24, 24]})});
        }
        return L.circleMarker(latlng, {radius: 4, color: "#e65100", weight: 1, fillOpacity: 0.7});
      },
      onEachFeature: function (f, l) {
        var p = f.properties || {};
        l.bindPopup(function () { return GG.popup(layer, p); }, {maxWidth: 320});
        if (p.name && opts.tooltips !== false) { l.bindTooltip(esc(p.name), {sticky: layer !== "stations"}); }
        if (p.code) { GG.registry[p.code] = {layer: l, kind: layer, name: p.name || ""}; }
      }
    });
    lyr.ggLayer = layer;
    return lyr;
  };

  /* Zoom to the feature with this code and open its popup (in the viewer: once its tiles are in). */
  GG.focus = function (map, code) {
    function open() {
      var h = GG.registry[code];
      if (h && map.hasLayer(h.layer)) { h.layer.openPopup(); }
    }
    function after() { (GG.config.whenIdle || function (fn) { setTimeout(fn, 50); })(open); }
    var hit = GG.registry[code];
    if (hit) {
      var l = hit.layer;
      if (!map.hasLayer(l) && l._eventParents) { for (var id in l._eventParents) { map.addLayer(l._eventParents[id]); } }
      if (l.getBounds) { map.fitBounds(l.getBounds(), {maxZoom: 18, animate: false}); }
      else { map.setView(l.getLatLng(), Math.max(map.getZoom(), 16), {animate: false}); }
      after();
      return true;
    }
    if (GG.config.locateUrl) {
      fetch(GG.config.locateUrl.replace("{code}", encodeURIComponent(code))).then(function (r) {
        return r.ok ? r.json() : null;
      }).then(function (b) {
        if (!b || !b.bbox) { return; }
        var layer = b.layer && GG.layersByKind && GG.layersByKind[b.layer];
        if (layer && !map.hasLayer(layer)) { map.addLayer(layer); }
        var at = GG.config.toMap || function (c) { return L.latLng(c[1], c[0]); };  /* WGS84 -> the base map's */
        map.fitBounds([at([b.bbox[0], b.bbox[1]]), at([b.bbox[2], b.bbox[3]])], {maxZoom: 18, animate: false});
        after();
      });
    }
    return false;
  };

  /* Popup links (click-through from a grid to its compounds and stations); related lists fetched in the viewer. */
  GG.wirePopups = function (map) {
    map.on("popupopen", function (e) {
      var el = e.popup.getElement();
      if (!el) { return; }
      var fill = el.querySelectorAll(".gg-related");
      var src = e.popup._source && e.popup._source.feature;
      if (fill.length && GG.config.relatedUrl && src) {
        var url = GG.config.relatedUrl.replace("{layer}", "grids").replace("{code}", encodeURIComponent(src.properties.code));
        fetch(url).then(function (r) { return r.json(); }).then(function (rel) {
          fill.forEach(function (span) { span.outerHTML = links(rel[span.getAttribute("data-kind")]); });
          wireLinks(el, map);
        });
      }
      wireLinks(el, map);
    });
  };
  function wireLinks(el, map) {
    el.querySelectorAll("[data-gg-code]").forEach(function (a) {
      a.onclick = function (ev) { ev.preventDefault(); GG.focus(map, a.getAttribute("data-gg-code")); };
    });
  }

  GG.Legend = L.Control.extend({
    options: {position: "bottomright", title: "图例", extra: "", stations: true, compounds: true},
    onAdd: function () {
      var d = L.DomUtil.create("div", "gg-legend leaflet-bar");
      var h = "<b>" + esc(this.options.title) + "</b>";
      if (this.options.stations) {
        for (var k in GG.config.stationKinds) {
          var st = GG.stationStyle[k] || ["#546e7a", "站"];
          h += '<div><i class="gg-dot" style="background:' + st[0] + '">' + st[1] + "</i>" + esc(GG.config.stationKinds[k]) + "</div>";
        }
      }
      if (this.options.compounds) {
        for (var c in GG.config.compoundKinds) {
          h += '<div><i class="gg-box" style="background:' + GG.compoundColors[c] + '"></i>小区·' +
            esc(GG.config.compoundKinds[c]) + "</div>";
        }
      }
      d.innerHTML = h + this.options.extra;
      L.DomEvent.disableClickPropagation(d);
      return d;
    }
  });

  GG.Fullscreen = L.Control.extend({
    options: {position: "topleft"},
    onAdd: function (map) {
      var d = L.DomUtil.create("div", "leaflet-bar gg-fullscreen");
      var a = L.DomUtil.create("a", "", d);
      a.href = "#"; a.title = "全屏"; a.innerHTML = "⛶"; a.setAttribute("role", "button");
      L.DomEvent.on(a, "click", function (e) {
        L.DomEvent.preventDefault(e);
        var el = map.getContainer();
        if (document.fullscreenElement) { document.exitFullscreen(); }
        else if (el.requestFullscreen) { el.requestFullscreen(); }
        else { L.DomUtil.addClass(el, "gg-pseudo-fullscreen"); }
        setTimeout(function () { map.invalidateSize(); }, 200);
      });
      return d;
    }
  });

  GG.Search = L.Control.extend({
    options: {position: "topright", placeholder: "搜索名称或编码"},
    onAdd: function (map) {
      var d = L.DomUtil.create("div", "gg-search leaflet-bar");
      var input = L.DomUtil.create("input", "", d);
      input.type = "search"; input.placeholder = this.options.placeholder;
      var out = L.DomUtil.create("div", "gg-search-results", d);
      L.DomEvent.disableClickPropagation(d);
      L.DomEvent.disableScrollPropagation(d);
      function show(hits) {
        out.innerHTML = hits.slice(0, 12).map(function (h) {
          return '<a href="#" data-gg-code="' + esc(h.code) + '">' + esc(h.name) + ' <small>' + esc(h.code) + " · " +
            esc(GG.config.layers[h.layer] || h.layer) + "</small></a>";
        }).join("") || "<em>无结果</em>";
        wireLinks(out, map);
        out.querySelectorAll("a").forEach(function (a) {  /* a choice closes the list */
          a.addEventListener("click", function () { out.innerHTML = ""; input.blur(); });
        });
      }
      input.addEventListener("input", function () {
        var q = input.value.trim().toLowerCase();
        if (!q) { out.innerHTML = ""; return; }
        if (GG.config.searchUrl) {  /* the viewer: the server knows every feature, loaded or not */
          fetch(GG.config.searchUrl + encodeURIComponent(q)).then(function (r) { return r.json(); }).then(function (h) {
            if (input.value.trim().toLowerCase() === q) { show(h); }
          });
          return;
        }
        var hits = [];
        for (var code in GG.registry) {
          var r = GG.registry[code];
          if (code.toLowerCase().indexOf(q) >= 0 || r.name.toLowerCase().indexOf(q) >= 0) {
            hits.push({code: code, name: r.name, layer: r.kind});
          }
        }
        show(hits);
      });
      return d;
    }
  });

  /* A canvas heat layer: each point [lat, lng, weight] adds a radial blob; colours from blue to red. */
  GG.HeatLayer = L.Layer.extend({
    initialize: function (points, options) { this._points = points; L.setOptions(this, options); },
    options: {radius: 22, max: null},
    onAdd: function (map) {
      this._canvas = L.DomUtil.create("canvas", "gg-heat leaflet-zoom-hide");
      map.getPanes().overlayPane.appendChild(this._canvas);
      map.on("moveend zoomend resize", this._redraw, this);
      this._redraw();
    },
    onRemove: function (map) {
      L.DomUtil.remove(this._canvas);
      map.off("moveend zoomend resize", this._redraw, this);
    },
    _redraw: function () {
      var map = this._map, size = map.getSize(), c = this._canvas, r = this.options.radius;
      L.DomUtil.setPosition(c, map.containerPointToLayerPoint([0, 0]));
      c.width = size.x; c.height = size.y;
      var ctx = c.getContext("2d", {willReadFrequently: true}), max = this.options.max || 1;
      ctx.clearRect(0, 0, size.x, size.y);
      this._points.forEach(function (p) {
        var pt = map.latLngToContainerPoint([p[0], p[1]]);
        var g = ctx.createRadialGradient(pt.x, pt.y, 0, pt.x, pt.y, r);
        g.addColorStop(0, "rgba(0,0,0," + Math.min(1, (p[2] || 1) / max * 0.6) + ")");
        g.addColorStop(1, "rgba(0,0,0,0)");
        ctx.fillStyle = g;
        ctx.fillRect(pt.x - r, pt.y - r, 2 * r, 2 * r);
      });
      var img = ctx.getImageData(0, 0, size.x, size.y), d = img.data;
      for (var i = 0; i < d.length; i += 4) {
        var a = d[i + 3] / 255;
        if (!a) { continue; }
        d[i] = Math.round(255 * Math.min(1, a * 2)); d[i + 1] = Math.round(255 * Math.max(0, 1 - Math.abs(a - 0.5) * 2));
        d[i + 2] = Math.round(255 * Math.max(0, 1 - a * 2)); d[i + 3] = Math.round(200 * Math.min(1, a * 1.5));
      }
      ctx.putImageData(img, 0, 0);
    }
  });

  /* Legend, full screen, search and popup links for one map. */
  GG.decorate = function (map, opts) {
    opts = opts || {};
    new GG.Fullscreen().addTo(map);
    new GG.Search().addTo(map);
    new GG.Legend(opts.legend || {}).addTo(map);
    GG.wirePopups(map);
    return map;
  };

  global.GridGIS = GG;
})(window);
