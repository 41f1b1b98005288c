// The login session (kept across reloads until it expires) and REST calls with its token.
const KEY = "robodine.session";
const listeners = new Set();

export function session() {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) || "null");
    if (s && s.token && Date.parse(s.expires_at) > Date.now() + 5000) return s;
  } catch { /* a damaged entry is the same as none */ }
  return null;
}

export function onLogout(fn) { listeners.add(fn); }

export function logout() {
  localStorage.removeItem(KEY);
  for (const fn of listeners) fn();
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export async function login(username, password) {
  const r = await fetch("/api/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, body);
  localStorage.setItem(KEY, JSON.stringify(body));
  return body;
}

/** JSON over REST with the session's token; a 401 ends the session. */
export async function api(path, { method = "GET", body, headers = {} } = {}) {
  const s = session();
  if (!s) { logout(); throw new ApiError(401, { detail: "not logged in" }); }
  const h = { Authorization: `Bearer ${s.token}`, ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 204) return null;
  const out = await r.json().catch(() => ({}));
  if (r.status === 401) logout();
  if (!r.ok) throw new ApiError(r.status, out);
  return out;
}

export function canWrite() {
  const s = session();
  return !!s && (s.role === "staff" || s.role === "admin");
}

let refreshing = null;
/** A fresh token before this one expires (one request for the feeds that ask at once). */
export function refresh() {
  if (!refreshing) {
    refreshing = api("/api/auth/refresh", { method: "POST" })
      .then((body) => { localStorage.setItem(KEY, JSON.stringify(body)); return body; })
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

/** POST a file to /api/uploads (multipart, part `file`) with the session's token; `progress`
 * gets the fraction sent (0..1). Resolves to the upload; rejects with an ApiError (status 0:
 * the connection failed). XMLHttpRequest, because fetch reports no upload progress. */
export function uploadFile(file, progress = () => {}) {
  return new Promise((resolve, reject) => {
    const s = session();
    if (!s) { logout(); reject(new ApiError(401, { detail: "not logged in" })); return; }
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/uploads");
    xhr.setRequestHeader("Authorization", `Bearer ${s.token}`);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) progress(e.loaded / e.total); };
    xhr.onload = () => {
      let out = {};
      try { out = JSON.parse(xhr.responseText || "{}"); } catch { /* not JSON: the status says enough */ }
      if (xhr.status === 401) logout();
      if (xhr.status >= 200 && xhr.status < 300) { progress(1); resolve(out); } else reject(new ApiError(xhr.status, out));
    };
    xhr.onerror = () => reject(new ApiError(0, { detail: "upload failed" }));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

/** An <img src> for a content URL of the API (an <img> cannot send the Authorization header). */
export function contentSrc(url) {
  const s = session();
  return `${url}?token=${encodeURIComponent(s ? s.token : "")}`;
}
