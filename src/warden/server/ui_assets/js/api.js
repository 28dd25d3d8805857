// The warden HTTP API, as any client uses it: the signed-in token goes in X-Vault-Token.
// The token lives in this tab's sessionStorage only: no cookie, so no CSRF, and it is gone
// when the tab closes.

const TOKEN_KEY = "warden.token";

export class ApiError extends Error {
  constructor(status, errors, path) {
    super(errors.length ? errors.join("; ") : `HTTP ${status}`);
    this.status = status;
    this.path = path;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function url(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") query.set(name, String(value));
  }
  const text = query.toString();
  return `/v1/${path.split("/").map(encodeURIComponent).join("/")}${text ? "?" + text : ""}`;
}

async function call(method, path, params, body, as = token()) {
  const headers = { "X-Vault-Token": as };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url(path, params), {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit", cache: "no-store", redirect: "error",
  });
  if (response.status === 204) return null;
  let payload = {};
  try {
    payload = await response.json();
  } catch {
    payload = {};
  }
  if (!response.ok) throw new ApiError(response.status, Array.isArray(payload.errors) ? payload.errors : [], path);
  return payload;
}

export function read(path, params) {
  return call("GET", path, params);
}

// LIST, as Vault's clients send it over GET (?list=true). An empty listing (404) is [].
export async function list(path, params) {
  try {
    return await call("GET", path, { ...params, list: "true" });
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return { data: { keys: [], key_info: {} } };
    throw err;
  }
}

// Who a token is; throws ApiError(403) for a token the server does not know.
export async function lookupSelf(candidate) {
  const body = await call("GET", "auth/token/lookup-self", {}, undefined, candidate);
  return body.data || {};
}
