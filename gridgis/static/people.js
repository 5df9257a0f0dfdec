/* People layer of the gridgis viewer: buildings coloured by responsibility (包栋/包单元 …, from
 * /people/coverage?format=geojson), grids coloured by the four assessment indices (from
 * /people/assessment?format=geojson) with the indices' bar chart (format=svg), or the emergency roster
 * map (平急转换, /roster?format=geojson: micro-grids by readiness; an export, so it needs a worker,
 * planner or admin token: the one the web editor signed in with, sessionStorage "gridgis.token").
 * State for tests: window.gridgisPeople. */
(function () {
  "use strict";
  var viewer = window.gridgisViewer;
  if (!viewer || !viewer.map) { return; }
  var map = viewer.map;
  var state = {mode: "none", layer: null, features: 0, errors: [], pending: 0, legend: [], chart: null, message: ""};
  window.gridgisPeople = state;
  var INDICES = {total: "综合", safety: "安全指数", environment: "环境指数", service: "服务指数", happiness: "幸福指数"};
  var STATES = {building: "包栋", units: "包单元全覆盖", partial: "部分单元", patch: "仅包片", none: "无人负责"};
  var RAMP = ["#d73027", "#fc8d59", "#fee08b", "#91cf60", "#1a9850"];  /* 0–60, 60–70, 70–80, 80–90, 90–100 */
  var KINDS = {flood: "防汛防台", fire: "消防火灾", epidemic: "疫情防控", earthquake: "地震", power: "停水停电", general: "综合应急"};
  var READINESS = {no_worker: ["#d73027", "无网格员"], short: ["#fdae61", "人手少于关爱对象"], ready: ["#1a9850", "人员到位"]};

  function authHeaders() {
    var token = null;
    try { token = window.sessionStorage.getItem("gridgis.token"); } catch (e) { token = null; }
    return token ? {Authorization: "Bearer " + token} : {};
  }

  function scoreColour(v) {
    if (v === null || v === undefined) { return "#bbbbbb"; }
    return v < 60 ? RAMP[0] : v < 70 ? RAMP[1] : v < 80 ? RAMP[2] : v < 90 ? RAMP[3] : RAMP[4];
  }

  function esc(s) {
    return String(s === null || s === undefined ? "" : s).replace(/[&<>"]/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c];
    });
  }

  var chartBox = null, noteBox = null;

  function note(text) {
    state.message = text;
    if (noteBox) { noteBox.textContent = text; }
  }

  function clear() {
    if (state.layer) { map.removeLayer(state.layer); state.layer = null; }
    state.features = 0;
    state.chart = null;
    if (chartBox) { chartBox.innerHTML = ""; }
    note("");
  }

  function show(url, style, popup, options) {
    clear();
    state.last = [url, style, popup];
    state.pending += 1;
    fetch(url, {headers: (options && options.headers) || {}}).then(function (r) {
      if ((r.status === 401 || r.status === 403) && options && options.denied) { note(options.denied); }
      if (!r.ok) { throw new Error(url + " → " + r.status); }
      return r.json();
    }).then(function (fc) {
      state.layer = L.geoJSON(fc, {coordsToLatLng: viewer.toMap, style: style,  /* GCJ-02 under AMap */
        onEachFeature: function (f, l) { l.bindPopup(popup(f.properties)); }});
      state.layer.addTo(map);
      state.features = fc.features.length;
      if (options && options.loaded) { options.loaded(fc); }
    }).catch(function (err) { state.errors.push(String(err)); }).then(function () { state.pending -= 1; });
  }

  function showChart(url) {
    /* a real chart from the server (an SVG of grouped bars, one group per grid, four bars each) */
    state.pending += 1;
    fetch(url).then(function (r) {
      if (!r.ok) { throw new Error(url + " → " + r.status); }
      return r.text();
    }).then(function (svg) {
      if (chartBox) { chartBox.innerHTML = svg; }
      state.chart = chartBox ? chartBox.querySelectorAll("svg rect").length : 0;
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
    showChart("/people/assessment?format=svg&period=" + encodeURIComponent(period));
  };

  state.showRoster = function (box, area, kind) {
    state.mode = "roster:" + kind;
    if (!area) { clear(); note("应急名册：请输入区域编码（街道、社区、网格或微网格）"); return; }
    show("/roster?format=geojson&kind=" + encodeURIComponent(kind) + "&area=" + encodeURIComponent(area), function (f) {
      return {color: "#333", weight: 1, fillColor: f.properties.colour, fillOpacity: 0.6};
    }, function (p) {
      return "<b>" + esc(p.name) + "</b> " + esc(p.code) + "<br>" + esc(p.readiness_label) +
        "<br>微网格员：" + (p.worker ? esc(p.worker) : "<b>无</b>") +
        "<br>在职党员 " + p.members + "，志愿者 " + p.volunteers + "，关爱对象 " + p.vulnerable +
        (p.stations ? "<br>就近站点：" + esc(p.stations) : "");
    }, {
      headers: authHeaders(),
      denied: "应急名册含个人信息：请先在编辑器中用网格员、规划员或管理员令牌登录",
      loaded: function (fc) {
        var s = fc.roster && fc.roster.summary;
        if (s) {
          note(KINDS[kind] + "：微网格 " + s.micro_grids + "，无网格员 " + s.without_worker + "，在职党员 " + s.members +
            "，志愿者 " + s.volunteers + "，关爱对象 " + s.vulnerable);
        }
        if (state.layer && fc.features.length) { map.fitBounds(state.layer.getBounds()); }
      }
    });
    legend(box, Object.keys(READINESS).map(function (k) { return READINESS[k]; }));
  };

  var ctl = L.control({position: "topright"});
  ctl.onAdd = function () {
    var div = L.DomUtil.create("div", "leaflet-bar gridgis-people");
    div.style.background = "#fff";
    div.style.padding = "4px 6px";
    var opts = '<option value="none">人员与组织：无</option><option value="coverage">责任覆盖（包栋/包单元）</option>';
    Object.keys(INDICES).forEach(function (k) { opts += '<option value="index:' + k + '">四个指数：' + INDICES[k] + "</option>"; });
    Object.keys(KINDS).forEach(function (k) { opts += '<option value="roster:' + k + '">应急名册：' + KINDS[k] + "</option>"; });
    var month = new Date().toISOString().slice(0, 7);
    div.innerHTML = '<select class="people-mode">' + opts + '</select> <input class="people-period" size="7" value="' + month +
      '" title="月份 YYYY-MM、季度 YYYYQn、半年 YYYYHn 或年份"> <input class="people-area" size="15" placeholder="名册区域编码"' +
      ' title="应急名册的区域：街道、社区、网格或微网格编码"><div class="people-note"></div><div class="people-legend"></div>' +
      '<div class="people-chart" style="max-width:420px;max-height:320px;overflow:auto"></div>';
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    var select = div.querySelector(".people-mode"), period = div.querySelector(".people-period");
    var area = div.querySelector(".people-area");
    var box = div.querySelector(".people-legend");
    chartBox = div.querySelector(".people-chart");
    noteBox = div.querySelector(".people-note");
    function apply() {
      var v = select.value;
      if (v === "none") { state.mode = "none"; clear(); box.innerHTML = ""; state.legend = []; return; }
      if (v === "coverage") { state.showCoverage(box); return; }
      if (v.indexOf("roster:") === 0) { state.showRoster(box, area.value.trim(), v.split(":")[1]); return; }
      state.showIndex(box, period.value, v.split(":")[1]);
    }
    select.addEventListener("change", apply);
    period.addEventListener("change", function () { if (select.value.indexOf("index:") === 0) { apply(); } });
    area.addEventListener("change", function () { if (select.value.indexOf("roster:") === 0) { apply(); } });
    state.select = function (value, p, a) {
      if (p) { period.value = p; }
      if (a !== undefined) { area.value = a; }
      select.value = value; apply();
    };
    return div;
  };
  ctl.addTo(map);
})();
