// Whether this page's origin may open feeds. A refused WebSocket handshake gives a page no
// reason (close code 1006), so once one fails before opening we ask GET /api/origin; a
// refused origin then stops the reconnecting and the header says what to change.
let refused = false;
const listeners = new Set();

export function originRefused() { return refused; }

/** Call `fn()` once the server has said this origin is not allowed. */
export function onOriginRefused(fn) { listeners.add(fn); if (refused) fn(); }

/** false only when the server says this origin is not in web.origins. */
export async function originAllowed() {
  if (refused) return false;
  try {
    const r = await fetch(`/api/origin?origin=${encodeURIComponent(location.origin)}`);
    if (!r.ok) return true; // cannot tell (an older server, a proxy): keep reconnecting
    if ((await r.json()).allowed) return true;
  } catch {
    return true; // the server is away: that is what reconnecting is for
  }
  refused = true;
  for (const fn of listeners) fn();
  return false;
}
