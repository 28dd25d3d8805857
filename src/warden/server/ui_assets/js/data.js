// What the pages show, gathered from the ordinary API under the signed-in token's ACL.
//
// Clusters are found from the mounts the token can see (sys/internal/ui/mounts): a cluster's
// CAs are PKI mounts named <cluster>/pki/<ca>. A mount whose certificate index answers 403 is
// left out, so a token limited to one cluster sees only that cluster even from a server that
// lists every mount. Cluster settings (nodes, and which file each role's certificate is
// written to) are the KV secret <kv>/<cluster>/k8s/cluster that `warden k8s bootstrap` keeps;
// a rotation in progress is <kv>/<cluster>/k8s/rotation/<ca>.

import { ApiError, list, read } from "./api.js";
import { h } from "./dom.js";

const CLUSTER_MOUNT = /^([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)\/pki\/([^/]+)$/;
export const KUBE_ROOT = "/etc/kubernetes/";
export const FAR_FUTURE = "9999-12-31T23:59:59Z";
const MAX_PAGE = 1000; // the server's largest page

function failed(err, ...statuses) {
  return err instanceof ApiError && statuses.includes(err.status);
}

export async function discover() {
  const body = await read("sys/internal/ui/mounts");
  const secret = (body.data && body.data.secret) || {};
  const pki = [];
  const kv = [];
  for (const [raw, mount] of Object.entries(secret)) {
    const path = raw.replace(/\/$/, "");
    if (mount.type === "pki") {
      const match = CLUSTER_MOUNT.exec(path);
      pki.push({ path, cluster: match ? match[1] : "", ca: match ? match[2] : path });
    } else if (mount.type === "kv" || mount.type === "generic") {
      kv.push({ path, version: String((mount.options || {}).version || "1") === "2" ? 2 : 1 });
    }
  }
  kv.sort((a, b) => (a.path === "secret" ? -1 : b.path === "secret" ? 1 : a.path.localeCompare(b.path)));
  const probes = await Promise.all(pki.map((m) =>
    read(`${m.path}/certs/expiry-counts`, { days: 90 }).then((b) => b.data, (err) => err)));
  const mounts = [];
  pki.forEach((mount, i) => {
    const probe = probes[i];
    if (failed(probe, 403)) return; // not this token's to see
    if (probe instanceof Error) mount.error = probe.message;
    else mount.counts = probe;
    mounts.push(mount);
  });
  mounts.sort((a, b) => a.cluster.localeCompare(b.cluster) || a.ca.localeCompare(b.ca));
  const clusters = new Map();
  for (const mount of mounts) {
    const name = mount.cluster;
    if (!clusters.has(name)) clusters.set(name, { name, mounts: [] });
    clusters.get(name).mounts.push(mount);
  }
  return { mounts, kv, clusters: [...clusters.values()] };
}

function kvPath(kv, logical) {
  return kv.version === 2 ? `${kv.path}/data/${logical}` : `${kv.path}/${logical}`;
}

async function readKv(kv, logical) {
  const body = await read(kvPath(kv, logical));
  const data = body.data || {};
  return kv.version === 2 ? data.data || null : data;
}

// The cluster's settings from the first KV mount that has them: {kv, settings}, or {} when
// none is readable with this token.
export async function clusterSettings(world, cluster) {
  if (!cluster) return {};
  for (const kv of world.kv) {
    try {
      const settings = await readKv(kv, `${cluster}/k8s/cluster`);
      if (settings) return { kv, settings };
    } catch (err) {
      if (!failed(err, 403, 404)) throw err;
    }
  }
  return {};
}

// {phase, ...} of a rotation of this CA; {phase: ""} when none; null when unreadable.
export async function rotation(kv, cluster, ca) {
  if (!kv) return null;
  try {
    return (await readKv(kv, `${cluster}/k8s/rotation/${ca}`)) || { phase: "" };
  } catch (err) {
    if (failed(err, 404)) return { phase: "" };
    if (failed(err, 403)) return null;
    throw err;
  }
}

export async function issuers(mount) {
  const body = await list(`${mount.path}/issuers`);
  const info = (body.data && body.data.key_info) || {};
  return Object.entries(info).map(([id, issuer]) => ({ id, ...issuer }))
    .sort((a, b) => Number(b.is_default) - Number(a.is_default) || a.not_before - b.not_before);
}

function entries(body, mount) {
  const data = body.data || {};
  const info = data.key_info || {};
  return (data.keys || []).map((serial) => ({ serial, mount, ...info[serial] }));
}

// A page-by-page merge of one sorted listing over many mounts: each source keeps its own
// cursor, and the next rows are the best heads among the sources.
export class MergedListing {
  constructor(sources, compare) {
    this.sources = sources.map((s) => ({ ...s, buffer: [], cursor: "", started: false, done: false }));
    this.compare = compare;
    this.total = 0;
    this.errors = [];
  }

  async fill(source, size) {
    if (source.done || source.buffer.length) return;
    try {
      const limit = Math.min(size, MAX_PAGE);
      const body = await list(source.path, { ...source.params, limit, cursor: source.cursor });
      source.buffer = entries(body, source.mount);
      if (!source.started && body.data && typeof body.data.total === "number") this.total += body.data.total;
      source.cursor = (body.data && body.data.next_cursor) || "";
    } catch (err) {
      this.errors.push(`${source.mount.path}: ${err.message}`);
      source.buffer = [];
      source.cursor = "";
    }
    source.started = true;
    source.done = !source.cursor;
  }

  async next(size) {
    const rows = [];
    while (rows.length < size) {
      await Promise.all(this.sources.map((s) => this.fill(s, size)));
      const live = this.sources.filter((s) => s.buffer.length);
      if (!live.length) break;
      live.sort((a, b) => this.compare(a.buffer[0], b.buffer[0]));
      rows.push(live[0].buffer.shift());
    }
    return rows;
  }

  get more() {
    return this.sources.some((s) => s.buffer.length || !s.done);
  }
}

export const soonestFirst = (a, b) => a.not_after - b.not_after || a.serial.localeCompare(b.serial);
export const newestFirst = (a, b) => b.issued_at - a.issued_at || a.serial.localeCompare(b.serial);

// The names a node's certificates carry: its Node name, the kubelet's CN, its address.
export function nodeNames(node) {
  return [node.name, `system:node:${node.name}`, node.ip].filter(Boolean);
}

// Which of the cluster's nodes a certificate names (CN or SANs).
export function nodesOf(entry, settings) {
  const nodes = (settings && settings.nodes) || [];
  const names = new Set([entry.common_name, ...(entry.names || [])].map((n) => String(n).toLowerCase()));
  return nodes.filter((n) => nodeNames(n).some((name) => names.has(name.toLowerCase()))).map((n) => n.name);
}

// Where a role's certificate is written in the kubeadm tree ("" if bootstrap did not say).
export function fileOf(entry, settings) {
  const files = (settings && settings.certificate_files) || {};
  const known = files[entry.role];
  return known ? KUBE_ROOT + known.file : "";
}

export function componentOf(entry, settings) {
  const files = (settings && settings.certificate_files) || {};
  return files[entry.role] ? files[entry.role].component : "";
}

// A small cluster picker that navigates to hrefFor(cluster).
export function clusterFilter(world, chosen, hrefFor) {
  const choice = h("select", { id: "filter-cluster", name: "cluster" },
    h("option", { value: "" }, "all clusters"),
    world.clusters.filter((c) => c.name).map((c) => h("option", { value: c.name, selected: c.name === chosen }, c.name)));
  choice.addEventListener("change", () => { location.hash = hrefFor(choice.value); });
  return h("form", { class: "filters" }, h("label", {}, "Cluster ", choice));
}
