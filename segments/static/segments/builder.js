/* Segment builder: draws the definition tree, keeps the JSON textarea in step, previews through
   POST /api/v1/segments/preview (the operator's session), and marks the conditions the server
   names in its errors (errors are keyed by path, e.g. definition.children.2.value). No libraries. */
(function () {
  "use strict";

  function csrf() {
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  var LIST_OPS = ["in", "not_in", "in_months"];

  function init(root) {
    var spec = JSON.parse(root.getAttribute("data-spec"));
    var textarea = root.querySelector("textarea");
    var builder = root.querySelector(".seg-builder");
    var jsonError = root.querySelector(".seg-json-error");
    var state;

    function load() {
      try {
        state = textarea.value.trim() ? JSON.parse(textarea.value) : {};
        jsonError.textContent = "";
      } catch (e) {
        jsonError.textContent = "Not valid JSON: " + e.message;
        return false;
      }
      if (!state || typeof state !== "object" || Array.isArray(state) || (!state.op && !state.kind)) {
        state = {op: "and", children: []};
      }
      return true;
    }

    function save() { textarea.value = JSON.stringify(state, null, 2); }

    function listText(v) { return Array.isArray(v) ? v.join(", ") : (v === undefined || v === null ? "" : String(v)); }
    function splitList(text) { return text.split(",").map(function (s) { return s.trim(); }).filter(Boolean); }

    function fieldInput(node, field) {
      var value = node[field.name];
      var onChange = function (e) {
        var raw = e.target.value;
        if (field.type === "list") raw = splitList(raw);
        else if (field.type === "number") raw = raw === "" ? "" : parseInt(raw, 10);
        else if (field.type === "bool") raw = raw === "" ? "" : raw === "true";
        else if (field.type === "value") {
          if (LIST_OPS.indexOf(node.op) >= 0 || node.op === "between") raw = splitList(raw);
        }
        if (raw === "" || (Array.isArray(raw) && !raw.length)) delete node[field.name];
        else node[field.name] = raw;
        save();
        if (field.name === "field" || field.name === "aggregate") render();
      };
      var input;
      if (field.type === "choice") {
        var choices = field.by ? (field.choices[node[field.by]] || []) : field.choices;
        input = el("select", {"data-param": field.name, onchange: onChange}, [el("option", {value: "", text: "—"})]);
        choices.forEach(function (c) {
          var o = el("option", {value: c, text: c.replace(/_/g, " ")});
          if (value === c) o.selected = true;
          input.appendChild(o);
        });
      } else if (field.type === "bool") {
        input = el("select", {"data-param": field.name, onchange: onChange}, [
          el("option", {value: "", text: "any"}), el("option", {value: "true", text: "yes"}),
          el("option", {value: "false", text: "no"})]);
        input.value = value === true ? "true" : value === false ? "false" : "";
      } else {
        var type = field.type === "number" ? "number" : field.type === "date" ? "date" : "text";
        var hint = field.type === "list" ? (field.choices ? field.choices.join(", ") : "codes, comma separated") :
          field.type === "value" ? "value (lists: a, b)" : "";
        input = el("input", {type: type, "data-param": field.name, placeholder: hint, onchange: onChange});
        input.value = listText(value);
      }
      return el("label", {"class": "seg-param"}, [el("span", {text: field.name.replace(/_/g, " ")}), input]);
    }

    function draw(node, path, parent, index) {
      var remove = parent ? el("button", {type: "button", "class": "seg-remove", title: "remove", text: "×",
        onclick: function () { parent.children.splice(index, 1); save(); render(); }}) : null;
      if (node.kind) {
        var kind = spec[node.kind];
        var box = el("div", {"class": "seg-leaf", "data-path": path}, [
          el("strong", {text: kind ? kind.title : node.kind}), remove]);
        if (kind) kind.fields.forEach(function (f) { box.appendChild(fieldInput(node, f)); });
        return box;
      }
      var op = el("select", {"class": "seg-op", onchange: function (e) {
        node.op = e.target.value;
        if (node.op === "not" && node.children.length > 1) node.children = [{op: "and", children: node.children}];
        save(); render();
      }}, ["and", "or", "not"].map(function (o) { return el("option", {value: o, text: o.toUpperCase()}); }));
      op.value = node.op;
      node.children = node.children || [];
      var kindSelect = el("select", {"class": "seg-kind"}, Object.keys(spec).map(function (k) {
        return el("option", {value: k, text: spec[k].title});
      }));
      var addLeaf = el("button", {type: "button", "class": "seg-add", text: "+ condition", onclick: function () {
        var leaf = {kind: kindSelect.value};
        if (node.op === "not" && node.children.length) return;
        node.children.push(leaf); save(); render();
      }});
      var addGroup = el("button", {type: "button", "class": "seg-add-group", text: "+ group", onclick: function () {
        if (node.op === "not" && node.children.length) return;
        node.children.push({op: "or", children: []}); save(); render();
      }});
      var head = el("div", {"class": "seg-head"}, [op, kindSelect, addLeaf, addGroup, remove]);
      var list = el("div", {"class": "seg-children"});
      node.children.forEach(function (child, i) { list.appendChild(draw(child, path + ".children." + i, node, i)); });
      return el("div", {"class": "seg-group", "data-path": path}, [head, list]);
    }

    function render() {
      builder.innerHTML = "";
      builder.appendChild(draw(state, "definition", null, 0));
    }

    textarea.addEventListener("change", function () { if (load()) render(); });

    var button = root.querySelector("#seg-preview-btn");
    var count = root.querySelector("#seg-preview-count");
    var errors = root.querySelector("#seg-preview-errors");
    var members = root.querySelector("#seg-preview-members");
    button.addEventListener("click", function () {
      if (jsonError.textContent) return;  // the JSON typed by hand does not parse: said under it
      count.textContent = "counting…";
      errors.innerHTML = "";
      members.innerHTML = "";
      builder.querySelectorAll(".seg-error").forEach(function (n) { n.classList.remove("seg-error"); });
      var started = Date.now();
      fetch(root.getAttribute("data-preview-url"), {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrf()},
        body: JSON.stringify({definition: state, limit: 10})
      }).then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
        .then(function (res) {
          if (!res.ok) {
            count.textContent = "";
            var errs = res.body.errors || {};
            if (!Object.keys(errs).length) errs = {"": [res.body.message]};
            Object.keys(errs).forEach(function (path) {
              errs[path].forEach(function (msg) { errors.appendChild(el("li", {text: (path ? path + ": " : "") + msg})); });
              var parts = path.split(".");
              while (parts.length) {
                var hit = builder.querySelector('[data-path="' + parts.join(".") + '"]');
                if (hit) { hit.classList.add("seg-error"); break; }
                parts.pop();
              }
            });
            return;
          }
          count.textContent = res.body.count.toLocaleString() + " customers (" + (Date.now() - started) + " ms)";
          count.setAttribute("data-count", res.body.count);
          if (res.body.members.length) {
            members.appendChild(el("tr", {}, ["id", "name", "phone", "email", "state"].map(function (h) {
              return el("th", {text: h});
            })));
            res.body.members.forEach(function (m) {
              members.appendChild(el("tr", {}, [
                el("td", {}, [el("a", {href: "/admin/crm/customer/" + m.id + "/change/", text: String(m.id)})]),
                el("td", {text: (m.first_name + " " + m.last_name).trim()}), el("td", {text: m.phone || ""}),
                el("td", {text: m.email || ""}), el("td", {text: m.state})]));
            });
          }
        })
        .catch(function (e) { count.textContent = "Preview failed: " + e; });
    });

    load();
    render();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".seg-editor").forEach(init);
  });
})();
