// Times, durations and urgency, the same way on every page.

export const DAY = 86400;

export function now() {
  return Date.now() / 1000;
}

export function isoDate(seconds) {
  return new Date(seconds * 1000).toISOString().slice(0, 10);
}

export function isoSeconds(seconds) {
  return new Date(seconds * 1000).toISOString().slice(0, 19).replace("T", " ") + "Z";
}

export function isoTime(seconds) {
  return new Date(seconds * 1000).toISOString().slice(0, 16).replace("T", " ") + "Z";
}

// "3d 4h", "5h 10m", "42m", or "expired 2d ago".
export function timeLeft(notAfter, at = now()) {
  const left = notAfter - at;
  const text = span(Math.abs(left));
  return left < 0 ? `expired ${text} ago` : text;
}

export function span(seconds) {
  const days = Math.floor(seconds / DAY);
  const hours = Math.floor((seconds % DAY) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (days >= 365) return `${(days / 365).toFixed(1)}y`;
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${minutes}m`;
  return `${Math.max(minutes, 0)}m`;
}

// The colour class of a row: how soon someone has to act.
export function urgency(notAfter, at = now()) {
  const left = notAfter - at;
  if (left < 0) return "expired";
  if (left < DAY) return "critical";
  if (left < 7 * DAY) return "warning";
  if (left < 30 * DAY) return "soon";
  return "ok";
}

export function shortSerial(serial) {
  return serial.length > 17 ? serial.slice(0, 17) + "…" : serial;
}
