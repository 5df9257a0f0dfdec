/* People layer of the gridgis viewer: buildings coloured by responsibility (包栋/包单元 …, from
 * /people/coverage?format=geojson) or grids coloured by the four assessment indices (from
 * /people/assessment?format=geojson). State for tests: window.gridgisPeople. */
(function () {
  "use strict";
  var viewer = window.gridgisViewer;
  if (!viewer || !viewer.map) { return; }
  var map = viewer.map;
  var state = {mode: "none", layer: null, features: 0, errors: [], pending: 0, legend: []};
  window.gridgisPeople = state;
  var INDICES = {total: "综合", safety: "安全指数", environment: "环境指数", service: "服务指数", happiness: "幸福指数"};
  var STATES = {building: "包栋", units: "包单元全覆盖", partial: "部分单元", patch: "仅包片", none: "无人负责"};
  var RAMP = ["#d73027", "#fc8d59", "#fee08b", "#91cf60", "#1a9850"];  /* 0–60, 60–70, 70–80, 80–90, 90–100 */

  function scoreColour(v) {
    if (v === null || v === undefined) { return "#bbbbbb"; }
    return v < 60 ? RAMP[0] : v < 70 ? RAMP[1] : v < 80 ? RAMP[2] : v < 90 ? RAMP[3] : RAMP[4];
  }

  function esc(s) {
    return String(s === null || s === undefined ? "" : s).replace(/[&<>"]/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c];
    });
  }

  function clear() {
    if (state.layer) { map.removeLayer(state.layer); state.layer = null; }
    state.features = 0;
  }

  function show(url, style, popup) {
    clear();
    state.last = [url, style, popup];
    state.pending += 1;
    fetch(url).then(function (r) {
      if (!r.ok) { throw new Error(url + " → " + r.status); }
      return r.json();
    }).then(function (fc) {
      state.layer = L.geoJSON(fc, {coordsToLatLng: viewer.toMap, style: style,  /* GCJ-02 under AMap */
        onEachFeature: function (f, l) { l.bindPopup(popup(f.properties)); }});
      state.layer.addTo(map);
      state.features = fc.features.length;
    }).catch(function (err) { state.errors.push(String(err)); }).then(function () { state.pending -= 1; });
  }

  /* the base map switched between WGS84 and GCJ-02 (AMap): draw the layer again in the new coordinates */
  document.addEventListener("gridgis:crs", function () { if (state.layer && state.last) { show.apply(null, state.last); } });

  function legend(box, items) {
    state.legend = items;
    box.innerHTML = items.map(function (i) {
      return '<div><span style="display:inline-block;width:12px;height:12px;background:' + i[0] + '"></span> ' + esc(i[1]) + "</div>";
    }).join("");
  }

  state.showCoverage = function (box) {
    state.mode = "coverage";
    show("/people/coverage?format=geojson", function (f) {
      return {color: "#555", weight: 0.5, fillColor: f.properties.colour, fillOpacity: 0.8};
    }, function (p) {
      return "<b>" + esc(p.name) + "</b><br>" + esc(p.responsibility_label) + "（单元 " + p.units_covered + "/" + p.units + "）" +
        (p.responsible ? "<br>负责人：" + esc(p.responsible) : "");
    });
    legend(box, Object.keys(STATES).map(function (k) {
      return [{building: "#1a9850", units: "#66bd63", partial: "#fee08b", patch: "#fdae61", none: "#d73027"}[k], STATES[k]];
    }));
  };

  state.showIndex = function (box, period, index) {
    state.mode = "index:" + index;
    show("/people/assessment?format=geojson&period=" + encodeURIComponent(period), function (f) {
      return {color: "#333", weight: 1, fillColor: scoreColour(f.properties[index]), fillOpacity: 0.6};
    }, function (p) {
      var rows = Object.keys(INDICES).map(function (k) {
        return INDICES[k] + "：" + (p[k] === null || p[k] === undefined ? "–" : Number(p[k]).toFixed(1));
      });
      return "<b>" + esc(p.name) + "</b> " + esc(period) + "<br>" + rows.join("<br>") + (p.grade ? "<br>等级：" + esc(p.grade) : "");
    });
    legend(box, [[RAMP[4], "≥ 90"], [RAMP[3], "80–90"], [RAMP[2], "70–80"], [RAMP[1], "60–70"], [RAMP[0], "< 60"], ["#bbbbbb", "无数据"]]);
  };

  var ctl = L.control({position: "topright"});
  ctl.onAdd = function () {
    var div = L.DomUtil.create("div", "leaflet-bar gridgis-people");
    div.style.background = "#fff";
    div.style.padding = "4px 6px";
    var opts = '<option value="none">人员与组织：无</option><option value="coverage">责任覆盖（包栋/包单元）</option>';
    Object.keys(INDICES).forEach(function (k) { opts += '<option value="index:' + k + '">四个指数：' + INDICES[k] + "</option>"; });
    var month = new Date().toISOString().slice(0, 7);
    div.innerHTML = '<select class="people-mode">' + opts + '</select> <input class="people-period" size="7" value="' + month +
      '" title="月份 YYYY-MM、季度 YYYYQn、半年 YYYYHn 或年份"><div class="people-legend"></div>';
    L.DomEvent.disableClickPropagation(div);
    var select = div.querySelector(".people-mode"), period = div.querySelector(".people-period");
    var box = div.querySelector(".people-legend");
    function apply() {
      var v = select.value;
      if (v === "none") { state.mode = "none"; clear(); box.innerHTML = ""; state.legend = []; return; }
      if (v === "coverage") { state.showCoverage(box); return; }
      state.showIndex(box, period.value, v.split(":")[1]);
    }
    select.addEventListener("change", apply);
    period.addEventListener("change", function () { if (select.value.indexOf("index:") === 0) { apply(); } });
    state.select = function (value, p) { if (p) { period.value = p; } select.value = value; apply(); };
    return div;
  };
  ctl.addTo(map);
})();
