/* The gridgis web editor: a planner signs in with a token (kept in sessionStorage, this tab only) and
 * edits grids on the /map viewer. Every change is validated on the server first (the operation's dry
 * run plus /viewer/impact), its problems drawn on the map, then committed with a message. Without a
 * token the viewer stays read-only. Editing tools come from Leaflet-Geoman (npm, served by gridgis
 * under /static/vendor, loaded only after sign-in). State for tests: window.gridgisEditor. */
(function () {
  "use strict";
  var GG = window.GridGIS, V = window.gridgisViewer, esc = GG.esc;
  var KEY = "gridgis.token";
  var ROLES = {full_time: "专职", part_time: "兼职", auxiliary: "辅助"};
  var MODES = [
    ["select", "选择"], ["move", "移动边界"], ["compound", "划转小区"], ["buildings", "划转楼栋"],
    ["split", "拆分"], ["merge", "合并"], ["attrs", "属性"], ["history", "历史"], ["align", "对齐审核"]
  ];
  var HINTS = {
    select: "点击网格查看编码、户数、网格员和微网格。",
    move: "先选网格，再点击相邻网格；拖动紫色共享边上的顶点（白色小点可加顶点），两侧网格同时跟随。",
    compound: "先选接收网格，再点击要划入的小区。",
    buildings: "先选接收网格，再逐个点击要划入的楼栋。",
    split: "先选网格，再在地图上画一条穿过网格的线（双击结束）。",
    merge: "先选网格，再点击要并入的相邻网格。",
    attrs: "先选网格，修改名称、类型、网格员后预检。",
    history: "先选网格：查看各代版本，勾选两代比较，或恢复到某一代。",
    align: "先选网格：显示所在社区的对齐建议，逐条接受或拒绝后预检、提交。"
  };
  var ed = {token: null, user: null, mode: "select", sel: null, other: null, pending: null, lastDry: null,
    timings: [], errors: [], busy: 0, plugin: null, buildings: [], ghost: null};
  window.gridgisEditor = ed;
  try { ed.token = window.sessionStorage.getItem(KEY); } catch (e) { ed.token = null; }

  /* ---------- talking to the server ---------- */
  function api(method, url, body, extra) {
    var headers = {"Accept": "application/json, application/problem+json"};
    if (ed.token) { headers.Authorization = "Bearer " + ed.token; }
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    for (var k in (extra || {})) { headers[k] = extra[k]; }
    ed.busy += 1;
    return fetch(url, {method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body)})
      .then(function (r) {
        return r.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = {detail: text}; }
          if (!r.ok) {
            var err = new Error((data && (data.detail || data.title)) || ("HTTP " + r.status));
            err.status = r.status; err.body = data || {};
            throw err;
          }
          return {data: data, etag: r.headers.get("ETag")};
        });
      })
      .then(function (x) { ed.busy -= 1; return x; }, function (err) { ed.busy -= 1; throw err; });
  }

  /* ---------- the panel ---------- */
  var R = L.svg({padding: 0.5});  /* the editor draws in SVG (the viewer uses canvas): classes, crisp vertices */
  var panel, map = V.map, layer = L.featureGroup(), problemLayer = L.featureGroup(), previewLayer = L.featureGroup(),
    reviewLayer = L.featureGroup();  /* the alignment proposal: stays while its dry run is drawn */
  ed.layers = {work: layer, problems: problemLayer, preview: previewLayer, review: reviewLayer};  /* for tests */

  function el(sel) { return panel.querySelector(sel); }
  function say(text, kind) {
    var box = el(".gg-ed-msg");
    box.className = "gg-ed-msg" + (kind ? " gg-ed-" + kind : "");
    box.innerHTML = text;
  }

  function Panel() {
    var ctl = L.control({position: "topleft"});
    ctl.onAdd = function () {
      panel = L.DomUtil.create("div", "gg-editor leaflet-bar");
      L.DomEvent.disableClickPropagation(panel);
      L.DomEvent.disableScrollPropagation(panel);
      render();
      return panel;
    };
    return ctl;
  }

  function render() {
    if (!ed.user) {
      panel.innerHTML = '<div class="gg-ed-title">网格编辑</div>' +
        '<form class="gg-ed-signin"><input type="password" name="token" autocomplete="off" placeholder="规划员令牌 ggt_…">' +
        '<button type="submit">登录编辑</button></form><div class="gg-ed-msg">未登录：地图只读。</div>';
      el(".gg-ed-signin").addEventListener("submit", function (e) {
        e.preventDefault();
        signIn(el(".gg-ed-signin input").value.trim());
      });
      return;
    }
    var tools = MODES.map(function (m) {
      return '<button type="button" data-mode="' + m[0] + '"' + (ed.mode === m[0] ? ' class="gg-on"' : "") + ">" + m[1] + "</button>";
    }).join("");
    panel.innerHTML = '<div class="gg-ed-title">网格编辑 <small>' + esc(ed.user.name) + "（" + esc(ed.user.role) +
      '）</small> <a href="#" class="gg-ed-signout">退出</a></div><div class="gg-ed-tools">' + tools +
      '</div><div class="gg-ed-hint">' + esc(HINTS[ed.mode]) + '</div><div class="gg-ed-sel"></div>' +
      '<div class="gg-ed-work"></div><div class="gg-ed-result"></div><div class="gg-ed-msg"></div>';
    el(".gg-ed-signout").addEventListener("click", function (e) { e.preventDefault(); signOut(); });
    panel.querySelectorAll("[data-mode]").forEach(function (b) {
      b.addEventListener("click", function () { setMode(b.getAttribute("data-mode")); });
    });
    showSelection();
  }

  function signIn(token) {
    if (!token) { say("请输入令牌。", "error"); return; }
    ed.token = token;
    api("GET", "/viewer/whoami").then(function (r) {
      if (!r.data.can_edit) {
        ed.token = null;
        say("该令牌（" + esc(r.data.name) + "，角色 " + esc(r.data.role) + "）没有编辑网格的权限。", "error");
        return;
      }
      try { window.sessionStorage.setItem(KEY, token); } catch (e) { /* private mode: this page only */ }
      ed.user = r.data;
      render();
      loadPlugin();
    }).catch(function (err) {
      ed.token = null;
      try { window.sessionStorage.removeItem(KEY); } catch (e) { /* nothing stored */ }
      if (panel) { render(); say("登录失败：" + esc(err.message), "error"); }
    });
  }

  function signOut() {
    try { window.sessionStorage.removeItem(KEY); } catch (e) { /* nothing stored */ }
    ed.token = null; ed.user = null; ed.sel = null; ed.other = null;
    clearWork();
    render();
  }

  /* Leaflet-Geoman, served by gridgis from node_modules (npm ci); missing → a clear message, viewer unharmed. */
  function loadPlugin() {
    if (ed.plugin) { return ed.plugin; }
    ed.plugin = new Promise(function (resolve, reject) {
      if (L.PM) { resolve(); return; }
      var css = document.createElement("link");
      css.rel = "stylesheet"; css.href = "/static/vendor/geoman.css";
      document.head.appendChild(css);
      var s = document.createElement("script");
      s.src = "/static/vendor/geoman.js";
      s.onload = function () { resolve(); };
      s.onerror = function () { reject(new Error("plug-in missing")); };
      document.head.appendChild(s);
    }).then(function () {
      if (!map.pm) { map.pm = new L.PM.Map(map); }  /* the map was made before the plug-in loaded */
      map.pm.setLang("zh");
      map.pm.setGlobalOptions({snappable: false, allowSelfIntersection: false});
    }, function (err) {
      ed.pluginMissing = true;
      say("编辑插件（Leaflet-Geoman）未安装：请在服务器上运行 <code>./dev setup</code>（npm ci）。" +
        "拖动边界和画线拆分暂不可用；其他操作和地图浏览不受影响。", "error");
      throw err;
    });
    ed.plugin.catch(function () { /* reported in the panel */ });
    return ed.plugin;
  }

  /* ---------- selection ---------- */
  function inRing(pt, ring) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > pt[1]) !== (yj > pt[1]) && pt[0] < (xj - xi) * (pt[1] - yi) / (yj - yi) + xi) { inside = !inside; }
    }
    return inside;
  }
  function contains(geom, pt) {
    var polys = geom.type === "Polygon" ? [geom.coordinates] : geom.type === "MultiPolygon" ? geom.coordinates : [];
    return polys.some(function (p) {
      return inRing(pt, p[0]) && !p.slice(1).some(function (h) { return inRing(pt, h); });
    });
  }
  /* The feature of a viewer layer under a click (the viewer's tiles; exact outlines are fetched after). */
  function featureAt(name, latlng) {
    var lyr = V.layers[name], pt = [latlng.lng, latlng.lat], hit = null;
    if (!lyr) { return null; }
    lyr.eachLayer(function (l) {
      if (!hit && l.feature && l.feature.geometry && contains(l.feature.geometry, pt)) { hit = l.feature; }
    });
    return hit;
  }

  function fetchGrid(code) {
    return Promise.all([
      api("GET", "/collections/grids/items/" + encodeURIComponent(code)),
      api("GET", "/collections/micro_grids/items?grid_code=" + encodeURIComponent(code) + "&limit=100")
    ]).then(function (rs) {
      var f = rs[0].data;
      return {code: code, feature: f, etag: rs[0].etag, version: f.properties.version, micro: rs[1].data.features};
    });
  }

  function select(code) {
    return fetchGrid(code).then(function (g) {
      ed.sel = g; ed.other = null; ed.buildings = [];
      clearWork();
      drawSelection();
      showSelection();
      modeStart();
      return g;
    });
  }

  function drawSelection() {
    layer.clearLayers();
    if (ed.sel) { L.geoJSON(ed.sel.feature, {coordsToLatLng: V.toMap, renderer: R, style: {color: "#d500f9", weight: 3, fill: false}, interactive: false}).addTo(layer); }
    if (ed.other) { L.geoJSON(ed.other.feature, {coordsToLatLng: V.toMap, renderer: R, style: {color: "#00b8d4", weight: 3, fill: false}, interactive: false}).addTo(layer); }
  }

  function workersText(ws) {
    if (typeof ws === "string") { try { ws = JSON.parse(ws); } catch (e) { return esc(ws); } }
    if (!ws || !ws.length) { return "无"; }
    return ws.map(function (w) { return esc(w.name) + (w.role ? "（" + esc(ROLES[w.role] || w.role) + "）" : ""); }).join("、");
  }

  function showSelection() {
    var box = panel && el(".gg-ed-sel");
    if (!box) { return; }
    if (!ed.sel) { box.innerHTML = ""; return; }
    var p = ed.sel.feature.properties;
    box.innerHTML = '<table class="gg-ed-info"><tr><th>网格</th><td>' + esc(p.name) + "</td></tr><tr><th>编码</th><td>" +
      esc(ed.sel.code) + "</td></tr><tr><th>户数</th><td>" + esc(p.households) + "</td></tr><tr><th>网格员</th><td>" +
      workersText(p.workers) + "</td></tr><tr><th>微网格</th><td>" +
      (ed.sel.micro.map(function (m) { return esc(m.properties.name || m.properties.code); }).join("、") || "无") +
      "</td></tr><tr><th>版本</th><td>" + esc(ed.sel.version) + "</td></tr>" +
      (ed.other ? "<tr><th>相邻网格</th><td>" + esc(ed.other.feature.properties.name) + " " + esc(ed.other.code) + "</td></tr>" : "") +
      "</table>";
  }

  /* One handler for clicks on the map and on the viewer's layers (a canvas hit may not reach the map). */
  function onClick(e) {
    if (!ed.user || !e.latlng) { return; }
    var oe = e.originalEvent;
    if (oe) { if (oe._ggEditor) { return; } oe._ggEditor = true; }
    map.closePopup();
    var mode = ed.mode;
    if (mode === "split" && map.pm && map.pm.globalDrawModeEnabled()) { return; }
    if (mode === "compound" && ed.sel) {
      var q = featureAt("compounds", e.latlng);
      if (q) { transferCompound(q.properties.code); return; }
    }
    if (mode === "buildings" && ed.sel) {
      var b = featureAt("buildings", e.latlng);
      if (b) { toggleBuilding(b.properties.code); return; }
    }
    var g = featureAt("grids", e.latlng);
    if (!g) { return; }
    var code = g.properties.code;
    if ((mode === "move" || mode === "merge") && ed.sel && code !== ed.sel.code && !ed.other) {
      fetchGrid(code).then(function (o) {
        ed.other = o;
        drawSelection(); showSelection();
        if (mode === "move") { startMove(); } else { merge(); }
      }).catch(report);
      return;
    }
    if (ed.sel && ed.sel.code === code && mode !== "select") { return; }
    if (ed.sel && /^(split|attrs|history|align|move|merge)$/.test(mode)) { return; }  /* "选择" picks another grid */
    select(code).catch(report);
  }
  map.on("click", onClick);
  map.on("popupopen", function () { if (ed.user) { map.closePopup(); } });

  function setMode(mode) {
    ed.mode = mode; ed.other = null; ed.buildings = [];
    clearWork();
    render();
    drawSelection();
    modeStart();
  }

  function modeStart() {
    if (!ed.sel) { return; }
    if (ed.mode === "split") { startSplit(); }
    if (ed.mode === "attrs") { attrsForm(); }
    if (ed.mode === "history") { history(); }
    if (ed.mode === "align") { align(); }
    if (ed.mode === "buildings" && V.layers.buildings && !map.hasLayer(V.layers.buildings)) {
      map.addLayer(V.layers.buildings);
      V.reload();
    }
  }

  function clearWork() {
    if (map.pm) { map.pm.disableDraw(); }
    map.doubleClickZoom.enable();  /* off while a split line is drawn and checked (startSplit) */
    if (ed.edge && ed.edge.pm) { ed.edge.pm.disable(); }
    ed.edge = null; ed.pending = null; ed.lastDry = null;
    layer.clearLayers(); problemLayer.clearLayers(); previewLayer.clearLayers(); reviewLayer.clearLayers();
    if (panel && el(".gg-ed-work")) { el(".gg-ed-work").innerHTML = ""; el(".gg-ed-result").innerHTML = ""; el(".gg-ed-msg").innerHTML = ""; }
  }

  /* ---------- dry run, problems, commit ---------- */
  function report(err) {
    ed.errors.push(String(err.message || err));
    say("出错：" + esc(err.message || err), "error");
  }

  /* op = {label, url, body, method?, headers?, commit?} — body.dry_run is set to true here. */
  function dryRun(op) {
    ed.pending = op;
    var seq = ed.seq = (ed.seq || 0) + 1;  /* only the latest dry run is drawn */
    var t0 = performance.now();
    problemLayer.clearLayers(); previewLayer.clearLayers();
    el(".gg-ed-result").innerHTML = "";
    say("正在服务器上预检 " + esc(op.label) + " …");
    var body = Object.assign({}, op.body, {dry_run: true, impact: true});  /* impact in the same round trip */
    var run = op.dry ? op.dry() : api("POST", op.url, body).then(function (r) { return r.data; });
    return run.then(function (res) {
      if (res.impact) { return {res: res, impact: res.impact}; }
      var changes = res.changes || {type: "FeatureCollection", features: []};
      return api("POST", "/viewer/impact", {changes: changes}).then(function (imp) {
        return {res: res, impact: imp.data};
      });
    }).then(function (x) {
      if (seq === ed.seq) { drawDry(op, x.res, x.impact, t0); }
    }, function (err) {
      if (seq !== ed.seq) { return; }
      if (err.status === 412) { stale(op, err); return; }
      var probs = (err.body && err.body.problems) || [];
      drawProblems(probs, []);
      el(".gg-ed-result").innerHTML = '<div class="gg-ed-bad">服务器拒绝：' + esc(err.message) + "</div>" + problemList(probs, []);
      ed.lastDry = {valid: false, problems: probs, impact: []};
      ed.timings.push(performance.now() - t0);
      say("预检未通过，未保存任何内容。", "error");
    });
  }

  function drawProblems(problems, impact) {
    problems.forEach(function (p) {
      if (!p.where) { return; }
      L.circleMarker(V.toMap(p.where), {radius: 9, color: "#d50000", weight: 3, fillOpacity: 0.3, className: "gg-ed-problem", renderer: R})
        .bindTooltip(esc(p.message)).addTo(problemLayer);
    });
    impact.forEach(function (f) {
      if (!f.geometry) { return; }
      var kind = f.properties.kind;
      var style = kind === "households_out_of_range" ? {color: "#ff6d00", weight: 3, dashArray: "2 6", fill: false}
        : {color: "#d50000", weight: 2, fillColor: "#ff1744", fillOpacity: f.properties["new"] ? 0.5 : 0.2};
      L.geoJSON(f, {coordsToLatLng: V.toMap, renderer: R, className: "gg-ed-problem", style: style, pointToLayer: function (g, ll) { return L.circleMarker(ll, {radius: 8, color: "#d50000", renderer: R}); }})
        .eachLayer(function (l) { l.bindTooltip(esc(f.properties.kind_zh + "：" + f.properties.message)); })
        .addTo(problemLayer);
    });
  }

  function problemList(problems, impact) {
    var items = problems.map(function (p) { return "<li>" + esc((p.feature ? p.feature + "：" : "") + p.message) + "</li>"; })
      .concat(impact.map(function (f) {
        return '<li class="' + (f.properties["new"] ? "gg-ed-new" : "") + '">' + esc(f.properties.kind_zh) + "：" + esc(f.properties.message) +
          (f.properties["new"] ? "（本次修改引起）" : "（原有）") + "</li>";
      }));
    return items.length ? '<ul class="gg-ed-problems">' + items.join("") + "</ul>" : "";
  }

  function drawDry(op, res, impact, t0) {
    var feats = (res.changes && res.changes.features) || [];
    L.geoJSON({type: "FeatureCollection", features: feats.filter(function (f) { return f.geometry && f.properties.layer === "grids"; })},
      {coordsToLatLng: V.toMap, renderer: R, className: "gg-ed-preview", style: {color: "#ff6f00", weight: 3, dashArray: "6 4", fill: true, fillOpacity: 0.08}, interactive: false}).addTo(previewLayer);
    if (res.preview) {  /* a revert: the pieces that change back */
      L.geoJSON({type: "FeatureCollection", features: res.preview.filter(function (f) { return f.geometry; })},
        {coordsToLatLng: V.toMap, renderer: R, style: {color: "#c51162", weight: 2, fillColor: "#ff4081", fillOpacity: 0.4}, interactive: false}).addTo(previewLayer);
      feats = res.preview;
    }
    var problems = res.problems || [], imp = (impact && impact.features) || [];
    var fresh = imp.filter(function (f) { return f.properties["new"]; });
    drawProblems(problems, imp);
    ed.timings.push(performance.now() - t0);
    ed.lastDry = {valid: res.valid !== false, problems: problems, impact: imp, changes: feats};
    var rows = feats.map(function (f) {
      var p = f.properties;
      return "<tr><td>" + esc({replace: "修改", create: "新增", "delete": "删除"}[p.op] || p.op) + "</td><td>" + esc(GG.config.layers[p.layer] || p.layer) +
        "</td><td>" + esc(p.name || "") + " " + esc(p.code) + "</td><td>" + esc(p.households == null ? "" : p.households) + "</td></tr>";
    }).join("");
    var ok = res.valid !== false;
    el(".gg-ed-result").innerHTML =
      '<div class="' + (ok ? "gg-ed-good" : "gg-ed-bad") + '">预检' + (ok ? "通过" : "未通过") + "：" + esc(op.label) + "，" +
      problems.length + " 个校验问题，" + fresh.length + " 个新增问题（图上红色）</div>" +
      (rows ? '<table class="gg-ed-changes"><tr><th>操作</th><th>图层</th><th>要素</th><th>户数</th></tr>' + rows + "</table>" : "") +
      problemList(problems, imp) +
      (ok ? '<form class="gg-ed-commit"><input name="message" placeholder="修改说明（必填）" required>' +
        '<button type="submit">提交</button> <button type="button" class="gg-ed-cancel">放弃</button></form>' : "");
    var form = el(".gg-ed-commit");
    if (form) {
      form.addEventListener("submit", function (e) { e.preventDefault(); commit(op, form.message.value.trim()); });
      el(".gg-ed-cancel").addEventListener("click", function () { clearWork(); drawSelection(); modeStart(); say("已放弃。"); });
    }
    say(ok ? "预检完成：检查图上的问题，填写说明后提交。" : "预检未通过：按图上的问题修改后再试。", ok ? "" : "error");
    document.dispatchEvent(new CustomEvent("gridgis:validated"));
  }

  function commit(op, message) {
    if (!message) { say("请填写修改说明。", "error"); return; }
    say("正在提交 …");
    var run = op.commit ? op.commit(message) :
      api("POST", op.url, Object.assign({}, op.body, {dry_run: false, message: message})).then(function (r) { return r.data; });
    run.then(function (res) {
      var gen = res && res.generation ? res.generation.id : null;
      var keep = ed.sel && ed.sel.code;
      var gone = ((ed.lastDry && ed.lastDry.changes) || []).some(function (f) {
        return f.properties.layer === "grids" && f.properties.op === "delete" && f.properties.code === keep;
      });
      if (gone) { keep = null; }  /* merged away or replaced by the proposal: nothing to reselect */
      clearWork();
      V.reload();
      ed.lastCommit = {generation: gen, label: op.label};
      var after = keep ? fetchGrid(keep).then(function (g) { ed.sel = g; }, function () { ed.sel = null; }) : Promise.resolve();
      after.then(function () {
        ed.other = null;
        render(); drawSelection();
        say("已提交：" + esc(op.label) + (gen != null ? "（第 " + esc(gen) + " 代）" : "") + "。", "ok");
        document.dispatchEvent(new CustomEvent("gridgis:committed"));
      });
    }).catch(function (err) {
      if (err.status === 412) { stale(op, err); return; }
      var probs = (err.body && err.body.problems) || [];
      drawProblems(probs, []);
      say("提交被拒绝：" + esc(err.message) + problemList(probs, []), "error");
    });
  }

  /* Another planner committed first: say so, draw the new lines, keep the planner's attempt as a ghost. */
  function stale(op, err) {
    var probs = (err.body && err.body.problems) || [];
    var who = probs.map(function (p) { return esc(p.feature || ""); }).join("、");
    var ghost = previewLayer.getLayers().length ? V.unshift(previewLayer.toGeoJSON()) : (ed.attempt || null);
    var code = ed.sel && ed.sel.code, otherCode = ed.other && ed.other.code, mode = ed.mode;
    clearWork();
    V.reload();
    Promise.all([code ? fetchGrid(code) : null, otherCode ? fetchGrid(otherCode) : null]).then(function (gs) {
      var g = gs[0];
      ed.sel = g; ed.other = mode === "move" ? gs[1] : null;  /* the same pair, on the new lines */
      render(); drawSelection();
      if (ghost) {
        L.geoJSON(ghost, {coordsToLatLng: V.toMap, renderer: R, style: {color: "#616161", weight: 2, dashArray: "4 4", fill: false}, interactive: false}).addTo(problemLayer);
      }
      ed.stale = {op: op.label, features: who};
      say("另一位规划员已先提交了修改（" + who + "），您的修改没有保存，也没有覆盖对方。地图已显示最新边界，" +
        "灰色虚线是您刚才的修改：请在新边界上重做。", "stale");
      ed.mode = mode;
      modeStart();
      if (mode === "move" && ed.other) { startMove(true); }  /* quiet: the conflict message stays */
      document.dispatchEvent(new CustomEvent("gridgis:stale"));
    }).catch(report);
  }

  function versions() {
    var v = {};
    [ed.sel, ed.other].forEach(function (g) { if (g) { v[g.code] = g.version; } });
    return v;
  }

  /* ---------- operations ---------- */
  function ringOf(feature) {
    var g = feature.geometry;
    return g.type === "Polygon" ? g.coordinates : g.coordinates[0];
  }
  function same(a, b) { return Math.abs(a[0] - b[0]) < 1e-9 && Math.abs(a[1] - b[1]) < 1e-9; }

  /* The longest run of A's outline vertices that B shares, as indices into A's ring (closing point dropped). */
  function sharedRun(ringA, ringB) {
    var n = ringA.length - 1, shared = [];
    for (var i = 0; i < n; i++) { shared.push(ringB.some(function (c) { return same(c, ringA[i]); })); }
    var best = null;
    for (var s = 0; s < n; s++) {
      if (!shared[s] || shared[(s - 1 + n) % n]) { continue; }
      var len = 0;
      while (len < n && shared[(s + len) % n]) { len++; }
      if (!best || len > best.len) { best = {start: s, len: len}; }
    }
    if (!best && shared.every(Boolean)) { best = {start: 0, len: n}; }
    return best;
  }

  function pluginOr(err) { if (!ed.pluginMissing) { report(err); } }

  function startMove(quiet) {
    loadPlugin().then(function () {
      var rings = ringOf(ed.sel.feature), ring = rings[0], run = sharedRun(ring, ringOf(ed.other.feature)[0]);
      if (!run || run.len < 2) { say("这两个网格没有共享边界。", "error"); return; }
      var n = ring.length - 1, chain = [];
      for (var k = 0; k < run.len; k++) { chain.push(ring[(run.start + k) % n]); }
      ed.moveChain = chain;
      ed.edge = L.polyline(chain.map(V.toMap), {color: "#aa00ff", weight: 5, className: "gg-ed-edge", renderer: R}).addTo(layer);
      ed.edge.pm.enable({draggable: false, allowSelfIntersection: false, snappable: false});
      ed.moveRun = run;
      ed.edge.on("pm:markerdragend pm:vertexremoved", function () { moveBoundary(); });  /* once per drag */
      if (!quiet) { say("拖动紫色共享边上的顶点；松开后自动预检。"); }
    }).catch(pluginOr);
  }

  function movedOutline() {
    var rings = ringOf(ed.sel.feature), ring = rings[0], n = ring.length - 1, run = ed.moveRun;
    var rest = [];
    for (var k = run.len; k < n; k++) { rest.push(ring[(run.start + k) % n]); }
    /* back to WGS84 (from GCJ-02 under AMap); a vertex that was not dragged keeps its stored coordinates exactly */
    var chain = ed.edge.getLatLngs().map(function (ll) {
      var c = V.fromMap(ll);
      return ed.moveChain.filter(function (o) { return same(o, c); })[0] || c;
    });
    var outer = chain.concat(rest);
    outer.push(outer[0]);
    return {type: "Polygon", coordinates: [outer].concat(rings.slice(1))};
  }

  function moveBoundary() {
    var geom = movedOutline();
    ed.attempt = {type: "Feature", geometry: geom, properties: {}};
    dryRun({label: "移动 " + ed.sel.code + " 与 " + ed.other.code + " 的共享边界", url: "/operations/move-boundary",
      body: {a: ed.sel.code, b: ed.other.code, geometry: geom, versions: versions()}});
  }

  function transferCompound(code) {
    dryRun({label: "小区 " + code + " 划入 " + ed.sel.code, url: "/operations/transfer-compound",
      body: {compound: code, to_grid: ed.sel.code, versions: versions()}});
  }

  function toggleBuilding(code) {
    var i = ed.buildings.indexOf(code);
    if (i >= 0) { ed.buildings.splice(i, 1); } else { ed.buildings.push(code); }
    el(".gg-ed-work").innerHTML = "已选楼栋：" + (ed.buildings.map(esc).join("、") || "无");
    if (!ed.buildings.length) { clearWork(); drawSelection(); return; }
    dryRun({label: ed.buildings.length + " 栋楼划入 " + ed.sel.code, url: "/operations/transfer-buildings",
      body: {buildings: ed.buildings.slice(), to_grid: ed.sel.code, versions: versions()}});
  }

  function startSplit() {
    el(".gg-ed-work").innerHTML = '<label>新网格名称 <input class="gg-ed-newname" placeholder="可不填"></label>';
    loadPlugin().then(function () {
      /* The double click that ends the line must not zoom. The plug-in finishes the line on that double
       * click's second click (on the last vertex), before the browser's dblclick reaches the map, so the map's
       * double-click zoom stays off until the split is committed, given up or left (clearWork turns it back
       * on). It was turned back on by a 0.4 s timer: a line that took longer to draw zoomed the map. */
      map.doubleClickZoom.disable();
      map.pm.enableDraw("Line", {snappable: false, finishOn: "dblclick"});
      map.once("pm:create", function (e) {
        var line = V.unshift(e.layer.toGeoJSON().geometry);  /* drawn on the map: back to WGS84 */
        map.removeLayer(e.layer);
        L.geoJSON(line, {coordsToLatLng: V.toMap, renderer: R, style: {color: "#aa00ff", weight: 3}, interactive: false}).addTo(layer);
        ed.attempt = {type: "Feature", geometry: line, properties: {}};
        var name = (el(".gg-ed-newname") || {}).value;
        dryRun({label: "拆分 " + ed.sel.code, url: "/operations/split-grid",
          body: {grid: ed.sel.code, line: line, new_name: name || null, versions: versions()}});
      });
    }).catch(pluginOr);
  }

  function merge() {
    dryRun({label: "合并 " + ed.sel.code + " 与 " + ed.other.code, url: "/operations/merge-grids",
      body: {grids: [ed.sel.code, ed.other.code], versions: versions()}});
  }

  function attrsForm() {
    var p = ed.sel.feature.properties, ws = p.workers;
    if (typeof ws === "string") { try { ws = JSON.parse(ws); } catch (e) { ws = []; } }
    ws = ws || [];
    var kinds = {basic: "基础网格", dedicated: "专属网格"};
    function roleSel(v) {
      return '<select name="role">' + Object.keys(ROLES).map(function (k) {
        return '<option value="' + k + '"' + (k === v ? " selected" : "") + ">" + ROLES[k] + "</option>";
      }).join("") + "</select>";
    }
    function wrow(w) {
      return '<tr class="gg-ed-worker"><td><input name="wname" value="' + esc(w.name || "") + '"></td><td>' + roleSel(w.role) +
        '</td><td><input name="phone" value="' + esc(w.phone || "") + '"></td><td><a href="#" class="gg-ed-del">×</a></td></tr>';
    }
    el(".gg-ed-work").innerHTML = '<form class="gg-ed-attrs"><label>名称 <input name="name" value="' + esc(p.name) + '"></label>' +
      '<label>类型 <select name="kind">' + Object.keys(kinds).map(function (k) {
        return '<option value="' + k + '"' + (k === (p.kind || "basic") ? " selected" : "") + ">" + kinds[k] + "</option>";
      }).join("") + "</select></label><table><tr><th>网格员</th><th>类别</th><th>电话</th><th></th></tr>" +
      ws.map(wrow).join("") + '</table><a href="#" class="gg-ed-add">＋ 网格员</a> <button type="submit">预检</button></form>';
    var form = el(".gg-ed-attrs");
    function wire() {
      form.querySelectorAll(".gg-ed-del").forEach(function (a) {
        a.onclick = function (e) { e.preventDefault(); a.closest("tr").remove(); };
      });
    }
    wire();
    form.querySelector(".gg-ed-add").addEventListener("click", function (e) {
      e.preventDefault();
      form.querySelector("table").insertAdjacentHTML("beforeend", wrow({role: "full_time"}));
      wire();
    });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var workers = [];
      form.querySelectorAll(".gg-ed-worker").forEach(function (tr) {
        var name = tr.querySelector("[name=wname]").value.trim();
        if (name) {
          var w = {name: name, role: tr.querySelector("[name=role]").value};
          var phone = tr.querySelector("[name=phone]").value.trim();
          if (phone) { w.phone = phone; }
          workers.push(w);
        }
      });
      var props = {name: form.name.value.trim(), kind: form.kind.value, workers: workers};
      var code = ed.sel.code, etag = ed.sel.etag, feature = JSON.parse(JSON.stringify(ed.sel.feature));
      Object.assign(feature.properties, props);
      delete feature.properties.version;
      dryRun({
        label: "修改 " + code + " 的属性",
        dry: function () {
          return api("POST", "/validate", {layer: "grids", type: "FeatureCollection", features: [feature]}).then(function (r) {
            var ch = {type: "Feature", geometry: feature.geometry,
              properties: Object.assign({layer: "grids", op: "replace", code: code}, feature.properties)};
            return {valid: r.data.valid, problems: r.data.problems, changes: {type: "FeatureCollection", features: [ch]}};
          });
        },
        commit: function (message) {
          return api("PATCH", "/collections/grids/items/" + encodeURIComponent(code), {properties: props},
            {"If-Match": etag, "X-Gridgis-Message": encodeURIComponent(message)}).then(function () { return {}; });
        }
      });
    });
  }

  function history() {
    var code = ed.sel.code;
    api("GET", "/collections/grids/items/" + encodeURIComponent(code) + "/history").then(function (r) {
      var feats = r.data.features.slice().reverse();
      el(".gg-ed-work").innerHTML = '<table class="gg-ed-history"><tr><th></th><th>代</th><th>时间</th><th>作者</th><th>说明</th><th></th></tr>' +
        feats.map(function (f) {
          var p = f.properties;
          return '<tr><td><input type="checkbox" value="' + p.generation + '"></td><td>' + esc(p.generation) + "</td><td>" +
            esc(String(p.created_at).slice(0, 16).replace("T", " ")) + "</td><td>" + esc(p.author) + "</td><td>" + esc(p.message) +
            '</td><td><a href="#" class="gg-ed-revert" data-gen="' + p.generation + '">恢复</a></td></tr>';
        }).join("") + '</table><button type="button" class="gg-ed-diff">比较所选两代</button><div class="gg-ed-diffout"></div>';
      el(".gg-ed-diff").addEventListener("click", function () {
        var gens = Array.prototype.map.call(panel.querySelectorAll(".gg-ed-history input:checked"), function (i) { return +i.value; })
          .sort(function (a, b) { return a - b; });
        if (gens.length !== 2) { say("请勾选两代。", "error"); return; }
        diff(gens[0], gens[1]);
      });
      panel.querySelectorAll(".gg-ed-revert").forEach(function (a) {
        a.addEventListener("click", function (e) { e.preventDefault(); revert(+a.getAttribute("data-gen")); });
      });
    }).catch(report);
  }

  function diff(a, b) {
    api("GET", "/generations/" + a + "/diff/" + b + "?layer=grids").then(function (r) {
      previewLayer.clearLayers();
      L.geoJSON(r.data, {coordsToLatLng: V.toMap, renderer: R, style: {color: "#c51162", weight: 2, fillColor: "#ff4081", fillOpacity: 0.4}}).addTo(previewLayer);
      var rows = r.data.features.map(function (f) {
        var p = f.properties;
        return "<tr><td>" + esc(p.name || "") + " " + esc(p.code) + "</td><td>" + esc(p.op) + "</td><td>" +
          esc(p.households_a) + " → " + esc(p.households_b) + "</td><td>" + esc((p.changed_properties || []).join(", ")) + "</td></tr>";
      }).join("");
      el(".gg-ed-diffout").innerHTML = "<b>第 " + a + " 代 → 第 " + b + " 代</b>" +
        '<table class="gg-ed-changes"><tr><th>网格</th><th>变化</th><th>户数</th><th>属性</th></tr>' + (rows || "<tr><td colspan=4>无变化</td></tr>") + "</table>";
    }).catch(report);
  }

  function revert(gen) {
    dryRun({
      label: "恢复到第 " + gen + " 代",
      dry: function () {
        return api("GET", "/generations").then(function (r) {
          var now = Math.max.apply(null, r.data.generations.map(function (g) { return g.id; }));
          return api("GET", "/generations/" + gen + "/diff/" + now + "?layer=grids");
        }).then(function (r) {
          return {valid: true, problems: [], changes: {type: "FeatureCollection", features: []}, preview: r.data.features};
        });
      },
      commit: function (message) {
        return api("POST", "/generations/" + gen + "/revert", undefined, {"X-Gridgis-Message": encodeURIComponent(message)})
          .then(function (r) { return r.data; });
      }
    });
  }

  function align() {
    var community = ed.sel.code.slice(0, 12);
    el(".gg-ed-work").innerHTML = "正在计算社区 " + esc(community) + " 的对齐建议 …";
    api("POST", "/communities/" + community + "/alignment/proposal", {}).then(function (r) {
      var prop = r.data, changes = prop.changes.features;
      ed.proposal = prop;
      reviewLayer.clearLayers();
      L.geoJSON(prop.grids, {coordsToLatLng: V.toMap, renderer: R, className: "gg-ed-proposal", style: {color: "#ff6f00", weight: 2.5, dashArray: "6 4", fill: false}, interactive: false,
        className: "gg-ed-proposal"}).addTo(reviewLayer);
      changes.forEach(function (f, i) {
        L.geoJSON(f, {coordsToLatLng: V.toMap, renderer: R, style: {color: "#6200ea", weight: 1, fillColor: "#7c4dff", fillOpacity: 0.45}})
          .bindTooltip("建议 " + (i + 1)).addTo(reviewLayer);
      });
      var rep = prop.report || {}, impact = rep.impact || rep.grids || [];
      el(".gg-ed-work").innerHTML = (changes.length ? '<table class="gg-ed-align"><tr><th>接受</th><th>#</th><th>从</th><th>到</th><th>户数</th><th>小区</th></tr>' +
        changes.map(function (f, i) {
          var p = f.properties;
          return '<tr><td><input type="checkbox" checked data-i="' + i + '"></td><td>' + (i + 1) + "</td><td>" + esc(p.from_grid || "—") +
            "</td><td>" + esc(p.to_grid || "—") + "</td><td>" + esc(p.households) + "</td><td>" + esc(p.compounds) + "</td></tr>";
        }).join("") + "</table>" : "<div>建议与现有网格一致，没有需要修改的地方。</div>") +
        (impact.length ? '<table class="gg-ed-impact"><tr><th>网格</th><th>户数（前→后）</th><th>迁入小区</th><th>迁出小区</th></tr>' +
          impact.map(function (g) {
            return "<tr><td>" + esc(g.grid) + "</td><td>" + esc(g.households_before) + " → " + esc(g.households_after) + "</td><td>" +
              esc((g.compounds_in || []).join("、")) + "</td><td>" + esc((g.compounds_out || []).join("、")) + "</td></tr>";
          }).join("") + "</table>" : "") +
        (changes.length ? '<button type="button" class="gg-ed-align-check">预检所接受的建议</button>' : "");
      var btn = el(".gg-ed-align-check");
      if (btn) {
        btn.addEventListener("click", function () {
          var accepted = Array.prototype.map.call(panel.querySelectorAll(".gg-ed-align input:checked"), function (c) {
            return changes[+c.getAttribute("data-i")];
          });
          if (!accepted.length) { say("没有接受任何建议。", "error"); return; }
          var composed = accepted.length === changes.length ? Promise.resolve({data: prop.grids}) :
            api("POST", "/viewer/proposal/" + community, {accepted: accepted});
          composed.then(function (c) {
            dryRun({label: "应用社区 " + community + " 的 " + accepted.length + " 条对齐建议", url: "/operations/apply-proposal",
              body: {community: community, proposal: c.data}});
          }).catch(report);
        });
      }
    }).catch(report);
  }

  /* The base map switched between WGS84 and GCJ-02 (AMap): draw the selection again in the new
   * coordinates; work in progress on the old drawing is dropped (it would be read back wrongly). */
  document.addEventListener("gridgis:crs", function () {
    if (!ed.user) { return; }
    clearWork(); drawSelection(); modeStart();
    if (ed.mode === "move" && ed.sel && ed.other) { startMove(true); }
  });

  function start() {
    Object.keys(V.layers).forEach(function (name) { V.layers[name].on("click", onClick); });
    layer.addTo(map); reviewLayer.addTo(map); problemLayer.addTo(map); previewLayer.addTo(map);
    new Panel().addTo(map);
    if (ed.token) { signIn(ed.token); }
  }
  if (V.ready) { start(); } else { document.addEventListener("gridgis:ready", start, {once: true}); }
})();
