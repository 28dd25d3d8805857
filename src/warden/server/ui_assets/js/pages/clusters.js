// Clusters: each CA with its issuers (two during a rotation), key, expiry, age, the rotation
// phase, and how many of its certificates expire soon.

import { clusterSettings, discover, issuers, rotation } from "../data.js";
import { h, message, table } from "../dom.js";
import { DAY, isoDate, now, span, timeLeft, urgency } from "../format.js";

function sum(values, upto) {
  return (values || []).slice(0, upto).reduce((a, b) => a + b, 0);
}

function rotationText(state) {
  if (state === null) return "unknown (no access)";
  if (!state.phase) return "no rotation";
  const when = state[`${state.phase}_at`] || state.begun_at || "";
  return `${state.phase}${when ? " " + String(when).slice(0, 16).replace("T", " ") : ""}`;
}

function issuerCells(issuer, at, state) {
  if (!issuer) return [h("td", { colspan: 6, class: "muted" }, "no CA yet")];
  const key = issuer.key_type ? `${issuer.key_type}${issuer.key_bits ? " " + issuer.key_bits : ""}` : "";
  return [
    h("td", {}, issuer.common_name || issuer.issuer_name || issuer.id,
      issuer.is_default ? h("span", { class: "badge" }, "default") : null,
      state && state.phase && state.old_issuer === issuer.id ? h("span", { class: "badge" }, "old") : null,
      state && state.phase && state.new_issuer === issuer.id ? h("span", { class: "badge" }, "new") : null,
      issuer.revoked ? h("span", { class: "badge bad" }, "revoked") : null),
    h("td", {}, key),
    h("td", {}, isoDate(issuer.not_after)),
    h("td", { class: `left ${urgency(issuer.not_after, at)}` }, timeLeft(issuer.not_after, at)),
    h("td", {}, span(at - issuer.not_before)),
  ];
}

async function mountRows(mount, kv, ctx, at) {
  const [found, state] = await Promise.all([
    issuers(mount).catch(() => []),
    mount.cluster ? rotation(kv, mount.cluster, mount.ca) : Promise.resolve({ phase: "" }),
  ]);
  const days = mount.counts ? mount.counts.days : [];
  const soon = (n) => h("a", { href: ctx.link(["expiring"], { cluster: mount.cluster, ca: mount.ca, days: n }) },
    String(sum(days, n)));
  const first = found[0];
  const rows = [h("tr", { "data-mount": mount.path },
    h("th", { scope: "row", rowspan: Math.max(found.length, 1) }, mount.ca,
      h("div", { class: "muted small" }, mount.path)),
    ...issuerCells(first, at, state),
    h("td", { rowspan: Math.max(found.length, 1), class: "rotation" }, rotationText(state)),
    h("td", { rowspan: Math.max(found.length, 1), class: "num" }, soon(7)),
    h("td", { rowspan: Math.max(found.length, 1), class: "num" }, soon(30)))];
  for (const issuer of found.slice(1)) rows.push(h("tr", {}, ...issuerCells(issuer, at, state)));
  return rows;
}

async function clusterCard(world, cluster, ctx, at) {
  const { kv, settings } = await clusterSettings(world, cluster.name);
  const rows = (await Promise.all(cluster.mounts.map((m) => mountRows(m, kv, ctx, at)))).flat();
  const nodes = (settings && settings.nodes) || [];
  const facts = settings
    ? [`${nodes.filter((n) => n.control_plane).length} control plane, ${nodes.filter((n) => !n.control_plane).length} worker`,
      `keys ${settings.key_type}`, `leaf lifetime ${settings.cert_ttl}`]
    : [cluster.name ? "cluster settings not readable with this token" : "PKI mounts outside any cluster"];
  return h("section", { class: "card cluster", "data-cluster": cluster.name || "(none)" },
    h("h2", {}, cluster.name || "Other PKI mounts",
      cluster.name ? h("a", { class: "small", href: ctx.link(["expiring"], { cluster: cluster.name }) }, "expiring") : null),
    h("p", { class: "muted" }, facts.join(" · ")),
    nodes.length ? h("p", { class: "nodes" }, "Nodes: ", nodes.map((n) =>
      h("a", { href: ctx.link(["node", cluster.name, n.name]), class: "node" }, n.name))) : null,
    table(["CA", "Issuer", "Key", "Not after", "Left", "Age", "Rotation", "≤ 7 days", "≤ 30 days"], rows,
      { class: "cas" }));
}

export async function render(parts, params, ctx) {
  const world = await discover();
  const at = now();
  if (!world.mounts.length) {
    return h("section", {}, h("h1", {}, "Clusters"),
      message("info", "This token sees no PKI mounts. Bootstrap a cluster (warden k8s bootstrap) or sign in with a token whose policies reach one."));
  }
  const cards = await Promise.all(world.clusters.map((c) => clusterCard(world, c, ctx, at)));
  const expired = world.mounts.reduce((n, m) => n + (m.counts ? m.counts.expired : 0), 0);
  const week = world.mounts.reduce((n, m) => n + sum(m.counts && m.counts.days, 7), 0);
  return h("section", { id: "page-clusters" },
    h("h1", {}, "Clusters"),
    h("p", { class: "summary" }, `${world.clusters.filter((c) => c.name).length} cluster(s), ${world.mounts.length} CA mount(s); `,
      h("a", { href: ctx.link(["expiring"], { days: 7 }) }, `${week} certificate(s) expire within 7 days`),
      `; ${expired} expired still stored (tidy removes them).`),
    cards,
    h("p", { class: "muted small" }, `Times are UTC. Day counts start at ${isoDate(at - (at % DAY))}.`));
}
