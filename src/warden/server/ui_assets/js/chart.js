// Expirations per day as an SVG bar chart, built element by element (no markup strings).

import { h, svg } from "./dom.js";
import { DAY, isoDate } from "./format.js";

const WIDTH = 900;
const HEIGHT = 120;
const LEFT = 40;
const BOTTOM = 22;

function dayClass(day) {
  if (day < 1) return "critical";
  if (day < 7) return "warning";
  if (day < 30) return "soon";
  return "ok";
}

// counts[i]: certificates expiring on day i from start (seconds, 00:00 UTC).
export function expiryChart(counts, start, title) {
  const days = counts.length;
  const peak = Math.max(1, ...counts);
  const plotWidth = WIDTH - LEFT - 8;
  const plotHeight = HEIGHT - BOTTOM - 8;
  const step = plotWidth / days;
  const bars = counts.map((count, day) => {
    const height = count ? Math.max(1, (count / peak) * plotHeight) : 0;
    return svg("rect", {
      class: `bar ${dayClass(day)}`, x: (LEFT + day * step).toFixed(1), y: (8 + plotHeight - height).toFixed(1),
      width: Math.max(step - 1, 1).toFixed(1), height: height.toFixed(1), "data-day": isoDate(start + day * DAY),
      "data-count": count,
    }, svg("title", {}, `${isoDate(start + day * DAY)}: ${count} certificate${count === 1 ? "" : "s"}`));
  });
  const ticks = [];
  for (let day = 0; day < days; day += 15) {
    ticks.push(svg("text", { class: "tick", x: (LEFT + day * step).toFixed(1), y: HEIGHT - 6 },
      isoDate(start + day * DAY).slice(5)));
  }
  const scale = [
    svg("text", { class: "tick", x: LEFT - 6, y: 14, "text-anchor": "end" }, String(peak)),
    svg("text", { class: "tick", x: LEFT - 6, y: 8 + plotHeight, "text-anchor": "end" }, "0"),
    svg("line", { class: "axis", x1: LEFT, y1: 8 + plotHeight, x2: WIDTH - 8, y2: 8 + plotHeight }),
  ];
  const total = counts.reduce((a, b) => a + b, 0);
  return h("figure", { class: "chart" },
    svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": title, id: "expiry-chart" },
      scale, bars, ticks),
    h("figcaption", {}, `${title}: ${total} certificate${total === 1 ? "" : "s"}, per day (UTC)`));
}

export function countsFromEntries(rows, start, days) {
  const counts = new Array(days).fill(0);
  for (const row of rows) {
    const day = Math.floor((row.not_after - start) / DAY);
    if (day >= 0 && day < days) counts[day] += 1;
  }
  return counts;
}
