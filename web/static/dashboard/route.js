// Where the page is: `#tab?key=value...`, so a view's filters survive a reload and can be shared.

/** The tab and the parameters of the address's hash. */
export function hashState() {
  const [tab, query = ""] = location.hash.slice(1).split("?");
  return { tab: tab || "", params: new URLSearchParams(query) };
}

/** Keep `params` (empty values dropped) in the hash of `tab`, without a new history entry. */
export function setHashParams(tab, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, String(v));
  const s = q.toString();
  history.replaceState(null, "", `#${tab}${s ? `?${s}` : ""}`);
}
