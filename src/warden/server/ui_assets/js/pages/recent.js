// Recent issuance: what was issued, under which role, when and to whom (the token's display
// name and accessor, as recorded in the certificate index).

import { MergedListing, clusterFilter, discover, newestFirst } from "../data.js";
import { h, message, table } from "../dom.js";
import { isoSeconds, now, shortSerial, timeLeft, urgency } from "../format.js";

const PAGE = 100;

function row(entry, at) {
  return h("tr", { "data-serial": entry.serial, "data-cluster": entry.mount.cluster },
    h("td", { class: "nowrap" }, entry.issued_at ? isoSeconds(entry.issued_at) : "—"),
    h("td", {}, entry.mount.cluster || "—"),
    h("td", {}, entry.mount.ca),
    h("td", {}, entry.role || (entry.is_ca ? "(CA)" : "")),
    h("td", { class: "cn" }, entry.common_name, entry.revoked ? h("span", { class: "badge bad" }, "revoked") : null),
    h("td", {}, entry.issued_by || "—"),
    h("td", { class: "serial", title: entry.accessor || "" }, entry.accessor ? shortSerial(entry.accessor) : ""),
    h("td", { class: `left ${urgency(entry.not_after, at)}` }, timeLeft(entry.not_after, at)),
    h("td", { class: "serial", title: entry.serial }, shortSerial(entry.serial)));
}

export async function render(parts, params, ctx) {
  const world = await discover();
  const at = now();
  const cluster = params.get("cluster") || "";
  const mounts = world.mounts.filter((m) => !cluster || m.cluster === cluster);
  const header = [h("h1", {}, "Recent issuance"), clusterFilter(world, cluster, (c) => ctx.link(["recent"], { cluster: c }))];
  if (!mounts.length) return h("section", { id: "page-recent" }, header, message("info", "No CA to show."));
  const listing = new MergedListing(mounts.map((m) => ({ mount: m, path: `${m.path}/certs/recent`, params: {} })),
    newestFirst);
  const rows = await listing.next(PAGE);
  const grid = table(["Issued (UTC)", "Cluster", "CA", "Role", "Common name", "Issued by", "Accessor", "Left", "Serial"],
    rows.map((e) => row(e, at)), { class: "certs", id: "recent-table" });
  const more = h("button", { type: "button", id: "more", hidden: !listing.more }, "Show more");
  more.addEventListener("click", async () => {
    more.disabled = true;
    grid.querySelector("tbody").append(...(await listing.next(PAGE)).map((e) => row(e, at)));
    more.disabled = false;
    more.hidden = !listing.more;
  });
  return h("section", { id: "page-recent" }, header,
    listing.errors.length ? message("error", listing.errors.join("; ")) : null,
    rows.length ? grid : message("info", "Nothing has been issued yet."), more,
    h("p", { class: "muted small" }, "Every issuance is also in the audit log, with the request that asked for it."));
}
