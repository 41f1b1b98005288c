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
