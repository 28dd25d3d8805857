// A node: every stored certificate whose CN or SANs name it (kubelet, etcd, API server…),
// with the file it is written to in the kubeadm tree, and the node's files that have no
// valid certificate at all.

import {
  FAR_FUTURE, KUBE_ROOT, MergedListing, clusterSettings, componentOf, discover, fileOf, nodeNames, soonestFirst,
} from "../data.js";
import { h, message, table } from "../dom.js";
import { DAY, isoTime, now, shortSerial, timeLeft, urgency } from "../format.js";

const RECENTLY = 7 * DAY; // expired certificates this recent are still shown

function status(entry, at) {
  if (entry.revoked) return "revoked";
  if (entry.not_after < at) return "expired";
  return entry.renewed_by ? "renewed" : "current";
}

function certRow(entry, settings, at) {
  const state = status(entry, at);
  return h("tr", { class: `${urgency(entry.not_after, at)}${state === "renewed" || state === "revoked" ? " renewed" : ""}`,
    "data-serial": entry.serial, "data-role": entry.role },
  h("td", { class: "left" }, timeLeft(entry.not_after, at)),
  h("td", { class: "nowrap" }, isoTime(entry.not_after)),
  h("td", {}, componentOf(entry, settings) || "—"),
  h("td", { class: "file" }, fileOf(entry, settings) || "—"),
  h("td", {}, entry.mount.ca),
  h("td", {}, entry.role),
  h("td", { class: "cn" }, entry.common_name),
  h("td", { class: "sans" }, (entry.names || []).join(", ")),
  h("td", { class: "serial", title: entry.serial }, shortSerial(entry.serial)),
  h("td", {}, h("span", { class: `badge ${state}` }, state)));
}

// The node's files (from bootstrap's map) whose certificate names the node, each with its
// newest valid certificate or a warning that there is none.
function expectedFiles(settings, node, rows, at) {
  const files = (settings && settings.certificate_files) || {};
  const mine = Object.entries(files)
    .filter(([, f]) => f.names_node && (f.nodes || []).includes(node.name))
    .sort((a, b) => a[1].file.localeCompare(b[1].file));
  if (!mine.length) return null;
  const body = mine.map(([role, f]) => {
    const best = rows.filter((e) => e.role === role && e.not_after >= at && !e.revoked)
      .sort((a, b) => b.not_after - a.not_after)[0];
    return h("tr", { class: best ? urgency(best.not_after, at) : "expired", "data-role": role },
      h("td", { class: "file" }, KUBE_ROOT + f.file),
      h("td", {}, f.component),
      h("td", {}, role),
      best ? h("td", { class: "left" }, timeLeft(best.not_after, at))
        : h("td", { class: "left" }, "no valid certificate issued"),
      h("td", { class: "serial" }, best ? shortSerial(best.serial) : ""));
  });
  return h("section", {}, h("h2", {}, "Files naming this node"),
    table(["File", "Component", "Role", "Left", "Serial"], body, { class: "files", id: "node-files" }));
}

export async function render(parts, params, ctx) {
  const [clusterName, nodeName] = parts;
  if (!clusterName || !nodeName) return message("error", "Open a node from the Clusters page.");
  const world = await discover();
  const cluster = world.clusters.find((c) => c.name === clusterName);
  if (!cluster) return message("error", `This token sees no cluster named ${clusterName}.`);
  const { settings } = await clusterSettings(world, clusterName);
  const node = ((settings && settings.nodes) || []).find((n) => n.name === nodeName) || { name: nodeName };
  const at = now();
  const after = new Date((at - RECENTLY) * 1000).toISOString().replace(/\.\d+Z$/, "Z");
  const sources = cluster.mounts.flatMap((m) => nodeNames(node).map((name) => ({
    mount: m, path: `${m.path}/certs/expiring`, params: { after, before: FAR_FUTURE, name },
  })));
  const listing = new MergedListing(sources, soonestFirst);
  const seen = new Set();
  const rows = (await listing.next(5000)).filter((e) => {
    const key = `${e.mount.path} ${e.serial}`;
    const fresh = !seen.has(key);
    seen.add(key);
    return fresh;
  });
  const order = { current: 0, renewed: 1, expired: 2, revoked: 3 };
  rows.sort((a, b) => order[status(a, at)] - order[status(b, at)] || soonestFirst(a, b));
  const role = node.control_plane === undefined ? "" : node.control_plane ? "control plane" : "worker";
  return h("section", { id: "page-node" },
    h("h1", {}, `Node ${nodeName}`, h("span", { class: "muted small" }, ` cluster ${clusterName}`)),
    h("p", { class: "muted" }, [role, node.ip ? `address ${node.ip}` : "", `names looked up: ${nodeNames(node).join(", ")}`]
      .filter(Boolean).join(" · ")),
    settings ? null : message("info", "The cluster's settings are not readable with this token: files are not shown."),
    expectedFiles(settings, node, rows, at),
    h("h2", {}, "Certificates naming this node"),
    listing.errors.length ? message("error", listing.errors.join("; ")) : null,
    rows.length
      ? table(["Left", "Expires (UTC)", "Component", "File", "CA", "Role", "Common name", "SANs", "Serial", "Status"],
        rows.map((e) => certRow(e, settings, at)), { class: "certs", id: "node-table" })
      : message("info", "No stored certificate names this node."),
    h("p", { class: "muted small" }, "Certificates that expired more than 7 days ago are not shown."));
}
