// Revoked: certificates on the CAs' revocation lists, most recently revoked first.

import { list } from "../api.js";
import { clusterFilter, discover } from "../data.js";
import { h, message, table } from "../dom.js";
import { isoTime, now, shortSerial } from "../format.js";

const PER_MOUNT = 500;

async function revokedOf(mount) {
  const body = await list(`${mount.path}/certs/revoked`, { limit: PER_MOUNT });
  const data = body.data || {};
  const info = data.key_info || {};
  return (data.keys || []).map((serial) => ({ serial, mount, ...info[serial] }));
}

export async function render(parts, params, ctx) {
  const world = await discover();
  const at = now();
  const cluster = params.get("cluster") || "";
  const mounts = world.mounts.filter((m) => !cluster || m.cluster === cluster);
  const header = [h("h1", {}, "Revoked certificates"),
    clusterFilter(world, cluster, (c) => ctx.link(["revoked"], { cluster: c }))];
  const errors = [];
  const lists = await Promise.all(mounts.map((m) => revokedOf(m).catch((err) => {
    errors.push(`${m.path}: ${err.message}`);
    return [];
  })));
  const rows = lists.flat().sort((a, b) => b.revocation_time - a.revocation_time || a.serial.localeCompare(b.serial));
  const capped = lists.filter((l) => l.length >= PER_MOUNT).map((l) => l[0].mount.path);
  const body = rows.map((e) => h("tr", { "data-serial": e.serial, class: e.not_after < at ? "muted" : "" },
    h("td", { class: "nowrap" }, isoTime(e.revocation_time)),
    h("td", {}, e.mount.cluster || "—"),
    h("td", {}, e.mount.ca),
    h("td", { class: "cn" }, e.common_name || ""),
    h("td", {}, e.role || ""),
    h("td", { class: "serial", title: e.serial }, shortSerial(e.serial)),
    h("td", { class: "nowrap" }, e.not_after ? `${isoTime(e.not_after)}${e.not_after < at ? " (expired)" : ""}` : "")));
  return h("section", { id: "page-revoked" }, header,
    errors.length ? message("error", errors.join("; ")) : null,
    capped.length ? message("info", `Showing the first ${PER_MOUNT} revocations (by serial) of ${capped.join(", ")}.`) : null,
    rows.length
      ? table(["Revoked (UTC)", "Cluster", "CA", "Common name", "Role", "Serial", "Expires (UTC)"], body,
        { class: "certs", id: "revoked-table" })
      : message("info", "No certificate has been revoked."));
}
