// The dashboard: sign-in, navigation by the URL's #fragment, one module per page.

import { ApiError, lookupSelf, setToken, token } from "./api.js";
import { h, message, replace } from "./dom.js";
import * as clusters from "./pages/clusters.js";
import * as expiring from "./pages/expiring.js";
import * as node from "./pages/node.js";
import * as recent from "./pages/recent.js";
import * as revoked from "./pages/revoked.js";

const PAGES = { clusters, expiring, node, recent, revoked };
const main = document.getElementById("main");
let generation = 0;

export function link(parts, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v !== undefined));
  const text = query.toString();
  return "#/" + parts.map(encodeURIComponent).join("/") + (text ? "?" + text : "");
}

function current() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  return { parts, params: new URLSearchParams(query || "") };
}

function chrome(who) {
  const signedIn = Boolean(who);
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("signout").hidden = !signedIn;
  const label = document.getElementById("who");
  label.hidden = !signedIn;
  label.textContent = signedIn ? `signed in as ${who.display_name || "token"} (${(who.policies || []).join(", ")})` : "";
  const page = current().parts[0] || "clusters";
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === page);
}

function signIn(error) {
  chrome(null);
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true,
    spellcheck: "false", "aria-describedby": "token-help" });
  const form = h("form", { id: "signin", class: "signin" },
    h("h1", {}, "Sign in to warden"),
    error ? message("error", error) : null,
    h("label", { for: "token" }, "Token"),
    input,
    h("p", { id: "token-help", class: "help" },
      "A warden token (warden login, or warden token create). It stays in this browser tab only ",
      "and is sent with each request as X-Vault-Token; what you see is what its policies allow."),
    h("button", { type: "submit", id: "signin-button" }, "Sign in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const candidate = input.value.trim();
    try {
      await lookupSelf(candidate);
    } catch (err) {
      signIn(err instanceof ApiError && err.status === 403
        ? "warden refused this token (permission denied): it is unknown, expired or revoked."
        : `Could not sign in: ${err.message}`);
      return;
    }
    setToken(candidate);
    if (!location.hash || location.hash === "#/") location.hash = "#/clusters";
    else route();
  });
  replace(main, form);
  input.focus();
}

async function route() {
  const mine = ++generation;
  if (!token()) {
    signIn("");
    return;
  }
  let who;
  try {
    who = await lookupSelf(token());
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) {
      setToken("");
      signIn("Your token is no longer accepted (expired or revoked): sign in again.");
    } else {
      replace(main, message("error", `warden did not answer: ${err.message}`));
    }
    return;
  }
  if (mine !== generation) return;
  chrome(who);
  const { parts, params } = current();
  const page = PAGES[parts[0]] || clusters;
  replace(main, h("p", { class: "loading" }, "Loading…"));
  let view;
  try {
    view = await page.render(parts.slice(1), params, { link, stale: () => mine !== generation });
  } catch (err) {
    view = message("error", `This page could not be loaded: ${err.message}`);
  }
  if (mine === generation) replace(main, view);
}

document.getElementById("signout").addEventListener("click", () => {
  setToken("");
  location.hash = "#/clusters";
  signIn("");
});
window.addEventListener("hashchange", route);
route();
