// Expiring: certificates within N days across clusters, soonest first, coloured by urgency,
// with a chart of expirations per day for the next 90 days.

import { countsFromEntries, expiryChart } from "../chart.js";
import {
  MergedListing, clusterSettings, componentOf, discover, fileOf, nodeNames, nodesOf, soonestFirst,
} from "../data.js";
import { read } from "../api.js";
import { h, message, table } from "../dom.js";
import { DAY, isoTime, now, shortSerial, timeLeft, urgency } from "../format.js";

const PAGE = 100;
const CHART_DAYS = 90;

function filters(world, params, settingsByCluster, ctx) {
  const clusters = world.clusters.map((c) => c.name);
  const cas = [...new Set(world.mounts.map((m) => m.ca))].sort();
  const cluster = params.get("cluster") || "";
  const nodes = ((settingsByCluster.get(cluster) || {}).nodes || []).map((n) => n.name);
  const select = (name, label, values, chosen, all) => h("label", {}, label,
    h("select", { name, id: `filter-${name}` },
      all === null ? null : h("option", { value: "" }, all),
      values.map((v) => h("option", { value: v, selected: v === chosen }, v || "(none)"))));
  const form = h("form", { class: "filters", id: "filters" },
    select("days", "Days ", ["1", "7", "30", "90", "365"], params.get("days") || "30", null),
    select("cluster", "Cluster ", clusters, cluster, "all clusters"),
    select("ca", "CA ", cas, params.get("ca") || "", "all CAs"),
    h("label", {}, "Role ", h("input", { name: "role", id: "filter-role", value: params.get("role") || "", size: 18 })),
    cluster ? select("node", "Node ", nodes, params.get("node") || "", "all nodes")
      : h("label", { class: "muted" }, "Node: pick a cluster"),
    h("label", {}, h("input", { type: "checkbox", name: "renewed", id: "filter-renewed",
      checked: params.get("renewed") === "show" }), " show renewed and revoked"),
    h("button", { type: "submit" }, "Apply"));
  form.addEventListener("change", () => form.requestSubmit());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const next = {};
    for (const key of ["days", "cluster", "ca", "role", "node"]) next[key] = String(data.get(key) || "").trim();
    if (next.cluster !== cluster) next.node = "";
    next.renewed = data.get("renewed") ? "show" : "";
    location.hash = ctx.link(["expiring"], next);
  });
  return form;
}

function row(entry, settingsByCluster, at) {
  const settings = settingsByCluster.get(entry.mount.cluster) || null;
  const renewed = Boolean(entry.renewed_by) || entry.revoked;
  const nodes = nodesOf(entry, settings);
  const component = componentOf(entry, settings);
  return h("tr", { class: `${urgency(entry.not_after, at)}${renewed ? " renewed" : ""}`, "data-serial": entry.serial,
    "data-cluster": entry.mount.cluster },
    h("td", { class: "left" }, timeLeft(entry.not_after, at),
      entry.renewed_by ? h("span", { class: "badge", title: `renewed by ${entry.renewed_by}` }, "renewed") : null,
      entry.revoked ? h("span", { class: "badge bad" }, "revoked") : null,
      entry.is_ca ? h("span", { class: "badge" }, "CA") : null),
    h("td", { class: "nowrap" }, isoTime(entry.not_after)),
    h("td", {}, entry.mount.cluster || "—"),
    h("td", {}, entry.mount.ca),
    h("td", {}, nodes.join(", ")),
    h("td", {}, component ? `${component} · ${entry.role}` : entry.role),
    h("td", { class: "cn" }, entry.common_name),
    h("td", { class: "file" }, fileOf(entry, settings)),
    h("td", { class: "serial", title: entry.serial }, shortSerial(entry.serial)),
    h("td", {}, entry.issued_by || ""));
}

async function chartCounts(mounts, role, start) {
  const per = await Promise.all(mounts.map((m) => (role
    ? read(`${m.path}/certs/expiry-counts`, { days: CHART_DAYS, role }).then((b) => b.data.days, () => [])
    : Promise.resolve(m.counts ? m.counts.days : []))));
  const counts = new Array(CHART_DAYS).fill(0);
  for (const days of per) days.forEach((n, i) => { counts[i] += n; });
  return counts;
}

export async function render(parts, params, ctx) {
  const world = await discover();
  const at = now();
  const start = at - (at % DAY);
  const days = Math.max(1, Math.min(366, Number(params.get("days")) || 30));
  const cluster = params.get("cluster") || "";
  const ca = params.get("ca") || "";
  const role = params.get("role") || "";
  const nodeName = params.get("node") || "";
  const showRenewed = params.get("renewed") === "show";
  const mounts = world.mounts.filter((m) => (!cluster || m.cluster === cluster) && (!ca || m.ca === ca));
  const names = [...new Set(mounts.map((m) => m.cluster).filter(Boolean))];
  const settingsByCluster = new Map(await Promise.all(names.map(async (name) =>
    [name, (await clusterSettings(world, name)).settings || null])));
  const header = [h("h1", {}, "Expiring certificates"), filters(world, params, settingsByCluster, ctx)];
  if (!mounts.length) return h("section", { id: "page-expiring" }, header, message("info", "No CA matches these filters."));

  const renewedParam = showRenewed ? {} : { hide_renewed: "true", hide_revoked: "true" };
  let listing;
  let rows;
  let chart;
  if (nodeName) {
    // A node's certificates are few: read them all (90 days), for the list and the chart.
    const node = ((settingsByCluster.get(cluster) || {}).nodes || []).find((n) => n.name === nodeName)
      || { name: nodeName };
    const sources = mounts.flatMap((m) => nodeNames(node).map((name) => ({
      mount: m, path: `${m.path}/certs/expiring`, params: { within: `${CHART_DAYS * 24}h`, name, ...renewedParam },
    })));
    const all = new MergedListing(sources, soonestFirst);
    const seen = new Set();
    rows = (await all.next(5000)).filter((e) => {
      const key = `${e.mount.path} ${e.serial}`;
      const fresh = !seen.has(key) && (!role || e.role === role);
      seen.add(key);
      return fresh;
    });
    chart = expiryChart(countsFromEntries(rows, start, CHART_DAYS), start, `Expiring on ${nodeName}`);
    rows = rows.filter((e) => e.not_after < at + days * DAY);
    listing = { total: rows.length, more: false, errors: all.errors };
  } else {
    const sources = mounts.map((m) => ({
      mount: m, path: `${m.path}/certs/expiring`, params: { within: `${days * 24}h`, role, ...renewedParam },
    }));
    listing = new MergedListing(sources, soonestFirst);
    [rows, chart] = await Promise.all([
      listing.next(PAGE),
      chartCounts(mounts, role, start).then((counts) => expiryChart(counts, start, "Expiring in the next 90 days")),
    ]);
  }
  const body = rows.map((e) => row(e, settingsByCluster, at));
  const grid = table(["Left", "Expires (UTC)", "Cluster", "CA", "Node", "Component · role", "Common name",
    "File", "Serial", "Issued by"], body, { class: "certs", id: "expiring-table" });
  const tbody = grid.querySelector("tbody");
  const more = h("button", { type: "button", id: "more", hidden: !listing.more }, "Show more");
  more.addEventListener("click", async () => {
    more.disabled = true;
    const next = await listing.next(PAGE);
    tbody.append(...next.map((e) => row(e, settingsByCluster, at)));
    more.disabled = false;
    more.hidden = !listing.more;
  });
  const scope = [cluster || "all clusters", ca ? `CA ${ca}` : "", role ? `role ${role}` : "", nodeName ? `node ${nodeName}` : ""]
    .filter(Boolean).join(", ");
  const summary = nodeName
    ? `${rows.length} certificate(s) naming ${nodeName} expire within ${days} day(s)`
    : `${listing.total} certificate(s) expire within ${days} day(s) (${scope})`;
  return h("section", { id: "page-expiring" }, header, chart,
    h("p", { class: "summary", id: "expiring-summary" }, summary,
      showRenewed ? "" : "; certificates already renewed or revoked are hidden"),
    listing.errors.length ? message("error", listing.errors.join("; ")) : null,
    rows.length ? grid : message("info", !showRenewed && listing.total
      ? "Every certificate checked in this window has been renewed or revoked: tick “show renewed and revoked” to list them."
      : "Nothing expires in this window."),
    more);
}
