// format.js -- numbers, sizes, times and target names for display.

import { t, strings } from './strings.js';

export function formatBytes(n) {
  n = Number(n) || 0;
  const nf = (v, d) => v.toLocaleString(strings.lang, { maximumFractionDigits: d });
  if (n < 1024) return t('bytesB', { n: nf(n, 0) });
  if (n < 1024 * 1024) return t('bytesKB', { n: nf(n / 1024, 1) });
  return t('bytesMB', { n: nf(n / (1024 * 1024), 1) });
}

// An ISO time as local time; the date is left out for today.
export function formatTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  const opts = sameDay
    ? { hour: '2-digit', minute: '2-digit', second: '2-digit' }
    : { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' };
  return d.toLocaleString(strings.lang, opts);
}

// "lab:25"; an IPv6 literal gets brackets: "[2001:db8::1]:25".
export function targetName(host, port) {
  const hs = String(host);
  return (hs.includes(':') && !hs.startsWith('[') ? '[' + hs + ']' : hs) + ':' + port;
}

// The mode the server uses when the client says "auto".
export function resolveMode(mode, port) {
  if (mode === 'raw' || mode === 'telnet' || mode === 'tls') return mode;
  return Number(port) === 23 ? 'telnet' : 'raw';
}
