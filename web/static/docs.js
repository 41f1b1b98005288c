// Renders /api/openapi.json without any third-party code (the edge box may be offline).
"use strict";

const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
};

const refName = (ref) => ref.split("/").pop();

function typeOf(s) {
  if (!s) return "";
  if (s.$ref) return el("a", { class: "ref", href: "#schema-" + refName(s.$ref) }, refName(s.$ref));
  if (s.anyOf) { const span = el("span"); s.anyOf.forEach((x, i) => { if (i) span.append(" | "); span.append(typeOf(x)); }); return span; }
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (s.type === "array") { const span = el("span", {}, "array of "); span.append(typeOf(s.items)); return span; }
  return s.type || "any";
}

function schemaTable(schema) {
  const props = schema.properties || {};
  const req = new Set(schema.required || []);
  const t = el("table", {}, el("tr", {}, el("th", {}, "field"), el("th", {}, "type"), el("th", {}, "required"), el("th", {}, "notes")));
  for (const [name, s] of Object.entries(props)) {
    const notes = [];
    for (const k of ["description", "pattern", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "default"]) {
      if (s[k] !== undefined) notes.push(k === "description" ? s[k] : `${k}: ${JSON.stringify(s[k])}`);
    }
    t.append(el("tr", {}, el("td", {}, el("code", {}, name)), el("td", {}, typeOf(s)), el("td", {}, req.has(name) ? "yes" : ""), el("td", {}, notes.join("; "))));
  }
  return t;
}

function operation(path, method, op) {
  const summary = el("summary", {},
    el("span", { class: "method " + method }, method),
    el("span", { class: "path" }, path),
    el("span", { class: "summary" }, op.summary || ""),
    el("span", { class: "roles" }, op["x-roles"] ? "roles: " + op["x-roles"].join(", ") : "no login"));
  const body = el("div", { class: "body" });
  if (op.description) body.append(el("p", { class: "desc" }, op.description));
  if (op.parameters && op.parameters.length) {
    const t = el("table", {}, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "in"), el("th", {}, "type"), el("th", {}, "required")));
    for (const p of op.parameters) t.append(el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in), el("td", {}, typeOf(p.schema)), el("td", {}, p.required ? "yes" : "")));
    body.append(el("h4", {}, "Parameters"), t);
  }
  if (op.requestBody) {
    const s = op.requestBody.content["application/json"].schema;
    const p = el("p", {}, "application/json: "); p.append(typeOf(s));
    body.append(el("h4", {}, "Request body"), p);
  }
  const t = el("table", {}, el("tr", {}, el("th", {}, "status"), el("th", {}, "meaning"), el("th", {}, "body")));
  for (const [code, r] of Object.entries(op.responses || {})) {
    const cell = el("td");
    for (const [ctype, c] of Object.entries(r.content || {})) { cell.append(ctype + ": "); cell.append(typeOf(c.schema)); }
    t.append(el("tr", {}, el("td", {}, code), el("td", {}, r.description || ""), cell));
  }
  body.append(el("h4", {}, "Responses"), t);
  const d = el("details", { class: "op", "data-search": [path, method, op.summary, ...(op.tags || [])].join(" ").toLowerCase() }, summary, body);
  return d;
}

async function main() {
  const res = await fetch("/api/openapi.json");
  const doc = await res.json();
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  document.getElementById("description").textContent = doc.info.description || "";
  const ops = document.getElementById("ops");
  ops.textContent = "";
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(path, method, op));
    }
  }
  for (const [tag, list] of byTag) ops.append(el("h2", { class: "tag" }, tag), ...list);
  const schemas = document.getElementById("schemas");
  for (const [name, s] of Object.entries(doc.components.schemas).sort()) {
    const box = el("div", { id: "schema-" + name }, el("h3", {}, name));
    if (s.description) box.append(el("p", { class: "desc" }, s.description));
    if (s.properties) box.append(schemaTable(s)); else box.append(el("pre", {}, JSON.stringify(s, null, 2)));
    schemas.append(box);
  }
  document.getElementById("filter").addEventListener("input", (ev) => {
    const q = ev.target.value.trim().toLowerCase();
    for (const d of ops.querySelectorAll("details.op")) d.hidden = q !== "" && !d.dataset.search.includes(q);
  });
}

main().catch((err) => { document.getElementById("ops").textContent = "Could not load the API description: " + err; });
