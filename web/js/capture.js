// capture.js -- the canned captures of what the lab cannot carry (#/capture/NAME).
//
// DHCP, DNS over UDP, ARP and ICMP never cross the lab's TCP sessions, so
// the lessons ship small pcap files (web/captures/, written byte by byte by
// scripts/make-captures.py). This page reads one, lists its packets as
// Wireshark does (number, time, source, destination, protocol, info) and
// shows the chosen packet decoded, field by field, next to its hex dump:
// choosing a field marks its bytes in the dump. The decoder knows exactly
// what the captures hold: Ethernet, ARP, IPv4, ICMP, UDP, DHCP and DNS.

import { h, clear } from './dom.js';
import { t } from './strings.js';

export const CAPTURES = {
  dhcp: { file: 'dhcp.pcap', title: 'captureDhcp' },
  dns: { file: 'dns.pcap', title: 'captureDns' },
  arp: { file: 'arp.pcap', title: 'captureArp' },
  icmp: { file: 'icmp.pcap', title: 'captureIcmp' },
};

const HEX_ROW = 16;

// --- decoding ----------------------------------------------------------------

function mac(b, o) {
  return Array.from(b.subarray(o, o + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}
function ip4(b, o) {
  return Array.from(b.subarray(o, o + 4)).join('.');
}
function ip6(b, o) {
  const parts = [];
  for (let i = 0; i < 16; i += 2) parts.push(((b[o + i] << 8) | b[o + i + 1]).toString(16));
  return parts.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}
function hex16(v) {
  return '0x' + v.toString(16).padStart(4, '0');
}

const DHCP_TYPES = { 1: 'Discover', 2: 'Offer', 3: 'Request', 4: 'Decline', 5: 'ACK', 6: 'NAK', 7: 'Release', 8: 'Inform' };
const DHCP_OPTIONS = {
  1: 'Subnet mask',
  3: 'Router (default gateway)',
  6: 'DNS server',
  15: 'Domain name',
  50: 'Requested IP address',
  51: 'Lease time',
  53: 'DHCP message type',
  54: 'Server identifier',
  55: 'Parameter request list',
  58: 'Renewal time (T1)',
  59: 'Rebinding time (T2)',
  61: 'Client identifier',
  255: 'End',
};
const DNS_TYPES = { 1: 'A', 2: 'NS', 5: 'CNAME', 15: 'MX', 16: 'TXT', 28: 'AAAA' };
const ICMP_TYPES = { 0: 'Echo reply', 3: 'Destination unreachable', 8: 'Echo request', 11: 'Time exceeded' };

function seconds(v) {
  const hours = v / 3600;
  return v + ' s' + (v % 3600 === 0 ? ' (' + hours + ' h)' : '');
}

// A field list for one layer: add(name, value, offset, length).
function fields(out, layer) {
  return (name, value, off, len, depth = 1) => out.push({ layer, name, value: String(value), off, len, depth });
}

function dnsName(b, o, base) {
  const labels = [];
  let jumped = false;
  let end = o;
  for (let guard = 0; guard < 64 && o < b.length; guard++) {
    const n = b[o];
    if (n === 0) {
      if (!jumped) end = o + 1;
      break;
    }
    if ((n & 0xc0) === 0xc0) {
      if (!jumped) end = o + 2;
      o = base + (((n & 0x3f) << 8) | b[o + 1]);
      jumped = true;
      continue;
    }
    labels.push(String.fromCharCode(...b.subarray(o + 1, o + 1 + n)));
    o += 1 + n;
  }
  return { name: labels.join('.'), end };
}

function decodeDhcp(b, o, out, pkt) {
  const add = fields(out, 'DHCP');
  add('Message op', b[o] === 1 ? '1 (request, client to server)' : '2 (reply, server to client)', o, 1);
  add('Transaction ID', '0x' + (((b[o + 4] << 24) | (b[o + 5] << 16) | (b[o + 6] << 8) | b[o + 7]) >>> 0).toString(16).padStart(8, '0'), o + 4, 4);
  add('Flags', hex16((b[o + 10] << 8) | b[o + 11]) + (b[o + 10] & 0x80 ? ' (broadcast)' : ''), o + 10, 2);
  add('Client IP address (ciaddr)', ip4(b, o + 12), o + 12, 4);
  add('Your IP address (yiaddr)', ip4(b, o + 16), o + 16, 4);
  add('Server IP address (siaddr)', ip4(b, o + 20), o + 20, 4);
  add('Client hardware address', mac(b, o + 28), o + 28, 6);
  add('Magic cookie', '63 82 53 63', o + 236, 4);
  let p = o + 240;
  let type = '';
  while (p < b.length && b[p] !== 0xff) {
    const code = b[p];
    const len = b[p + 1];
    const v = p + 2;
    let value;
    if (code === 53) value = (type = DHCP_TYPES[b[v]] || String(b[v])) + ' (' + b[v] + ')';
    else if ([1, 3, 6, 50, 54].includes(code)) value = ip4(b, v);
    else if ([51, 58, 59].includes(code)) value = seconds(((b[v] << 24) >>> 0) + (b[v + 1] << 16) + (b[v + 2] << 8) + b[v + 3]);
    else if (code === 15) value = String.fromCharCode(...b.subarray(v, v + len));
    else if (code === 61) value = 'type ' + b[v] + ', ' + mac(b, v + 1);
    else value = Array.from(b.subarray(v, v + len)).join(', ');
    add('Option ' + code + ': ' + (DHCP_OPTIONS[code] || 'option'), value, p, 2 + len);
    p += 2 + len;
  }
  if (p < b.length) add('Option 255: End', '', p, 1);
  pkt.proto = 'DHCP';
  pkt.info = 'DHCP ' + type + ' - Transaction ID ' + out.find((f) => f.name === 'Transaction ID').value;
}

function decodeDns(b, o, out, pkt) {
  const add = fields(out, 'DNS');
  const id = (b[o] << 8) | b[o + 1];
  const flags = (b[o + 2] << 8) | b[o + 3];
  const response = !!(flags & 0x8000);
  add('Transaction ID', hex16(id), o, 2);
  add('Flags', hex16(flags) + (response ? ' (response' : ' (query') + (flags & 0x0100 ? ', recursion desired' : '') + ')', o + 2, 2);
  const qd = (b[o + 4] << 8) | b[o + 5];
  const an = (b[o + 6] << 8) | b[o + 7];
  add('Questions', qd, o + 4, 2);
  add('Answer records', an, o + 6, 2);
  let p = o + 12;
  let qname = '';
  let qtype = '';
  for (let i = 0; i < qd; i++) {
    const n = dnsName(b, p, o);
    const type = (b[n.end] << 8) | b[n.end + 1];
    qname = n.name;
    qtype = DNS_TYPES[type] || String(type);
    add('Question', n.name + ' ' + qtype + ' IN', p, n.end + 4 - p);
    p = n.end + 4;
  }
  const answers = [];
  for (let i = 0; i < an; i++) {
    const n = dnsName(b, p, o);
    const type = (b[n.end] << 8) | b[n.end + 1];
    const ttl = ((b[n.end + 4] << 24) >>> 0) + (b[n.end + 5] << 16) + (b[n.end + 6] << 8) + b[n.end + 7];
    const rdlen = (b[n.end + 8] << 8) | b[n.end + 9];
    const rd = n.end + 10;
    const value = type === 1 ? ip4(b, rd) : type === 28 ? ip6(b, rd) : rdlen + ' bytes';
    answers.push((DNS_TYPES[type] || type) + ' ' + value);
    add('Answer', n.name + ' ' + (DNS_TYPES[type] || type) + ' ' + value, p, rd + rdlen - p);
    add('Time to live', seconds(ttl), n.end + 4, 4, 2);
    add('Data', value, rd, rdlen, 2);
    p = rd + rdlen;
  }
  pkt.proto = 'DNS';
  pkt.info = (response ? 'Standard query response ' : 'Standard query ') + hex16(id) + ' ' + qtype + ' ' + qname +
    (answers.length ? ' ' + answers.join(' ') : '');
}

function decodeIcmp(b, o, end, out, pkt) {
  const add = fields(out, 'ICMP');
  const type = b[o];
  add('Type', type + ' (' + (ICMP_TYPES[type] || 'other') + ')', o, 1);
  add('Code', b[o + 1], o + 1, 1);
  add('Checksum', hex16((b[o + 2] << 8) | b[o + 3]), o + 2, 2);
  pkt.proto = 'ICMP';
  if (type === 0 || type === 8) {
    const id = (b[o + 4] << 8) | b[o + 5];
    const seq = (b[o + 6] << 8) | b[o + 7];
    add('Identifier', hex16(id), o + 4, 2);
    add('Sequence number', seq, o + 6, 2);
    add('Data', end - o - 8 + ' bytes', o + 8, end - o - 8);
    pkt.info = (type === 8 ? 'Echo (ping) request' : 'Echo (ping) reply') + ' id=' + hex16(id) + ', seq=' + seq + ', ttl=' + pkt.ttl;
  } else if (type === 11) {
    add('The dropped packet (its IP header and 8 bytes)', ip4(b, o + 8 + 12) + ' → ' + ip4(b, o + 8 + 16) + ', TTL ' + b[o + 8 + 8], o + 8, end - o - 8);
    pkt.info = 'Time-to-live exceeded (time to live exceeded in transit)';
  } else {
    pkt.info = ICMP_TYPES[type] || 'ICMP type ' + type;
  }
}

function decodeFrame(b) {
  const out = [];
  const pkt = { fields: out, proto: 'Ethernet', info: '', src: mac(b, 6), dst: mac(b, 0), ttl: 0 };
  const eth = fields(out, 'Ethernet');
  eth('Destination', mac(b, 0) + (b[0] === 0xff && b[5] === 0xff ? ' (broadcast)' : ''), 0, 6);
  eth('Source', mac(b, 6), 6, 6);
  const etype = (b[12] << 8) | b[13];
  eth('Type', hex16(etype) + (etype === 0x0800 ? ' (IPv4)' : etype === 0x0806 ? ' (ARP)' : ''), 12, 2);
  if (etype === 0x0806) {
    const add = fields(out, 'ARP');
    const op = (b[20] << 8) | b[21];
    add('Opcode', op + (op === 1 ? ' (request)' : op === 2 ? ' (reply)' : ''), 20, 2);
    add('Sender MAC address', mac(b, 22), 22, 6);
    add('Sender IP address', ip4(b, 28), 28, 4);
    add('Target MAC address', mac(b, 32), 32, 6);
    add('Target IP address', ip4(b, 38), 38, 4);
    pkt.proto = 'ARP';
    pkt.info = op === 1 ? 'Who has ' + ip4(b, 38) + '? Tell ' + ip4(b, 28) : ip4(b, 28) + ' is at ' + mac(b, 22);
    return pkt;
  }
  if (etype !== 0x0800) return pkt;
  const o = 14;
  const ihl = (b[o] & 0x0f) * 4;
  const total = (b[o + 2] << 8) | b[o + 3];
  const proto = b[o + 9];
  const ip = fields(out, 'IPv4');
  ip('Version and header length', '4, ' + ihl + ' bytes', o, 1);
  ip('Total length', total, o + 2, 2);
  ip('Identification', hex16((b[o + 4] << 8) | b[o + 5]), o + 4, 2);
  ip('Time to live (TTL)', b[o + 8], o + 8, 1);
  ip('Protocol', proto + (proto === 1 ? ' (ICMP)' : proto === 17 ? ' (UDP)' : proto === 6 ? ' (TCP)' : ''), o + 9, 1);
  ip('Header checksum', hex16((b[o + 10] << 8) | b[o + 11]), o + 10, 2);
  ip('Source address', ip4(b, o + 12), o + 12, 4);
  ip('Destination address', ip4(b, o + 16), o + 16, 4);
  pkt.src = ip4(b, o + 12);
  pkt.dst = ip4(b, o + 16);
  pkt.ttl = b[o + 8];
  pkt.proto = 'IPv4';
  const l4 = o + ihl;
  const end = o + total;
  if (proto === 1) {
    decodeIcmp(b, l4, end, out, pkt);
  } else if (proto === 17) {
    const u = fields(out, 'UDP');
    const sport = (b[l4] << 8) | b[l4 + 1];
    const dport = (b[l4 + 2] << 8) | b[l4 + 3];
    u('Source port', sport, l4, 2);
    u('Destination port', dport, l4 + 2, 2);
    u('Length', (b[l4 + 4] << 8) | b[l4 + 5], l4 + 4, 2);
    u('Checksum', hex16((b[l4 + 6] << 8) | b[l4 + 7]), l4 + 6, 2);
    pkt.proto = 'UDP';
    pkt.info = sport + ' → ' + dport;
    if ([67, 68].includes(sport) && [67, 68].includes(dport)) decodeDhcp(b, l4 + 8, out, pkt);
    else if (sport === 53 || dport === 53) decodeDns(b, l4 + 8, out, pkt);
  }
  return pkt;
}

// A pcap file (classic, either byte order, Ethernet) -> packets.
export function parsePcap(buf) {
  const dv = new DataView(buf);
  if (buf.byteLength < 24) throw new Error('not a pcap file');
  const magic = dv.getUint32(0, true);
  const le = magic === 0xa1b2c3d4;
  if (!le && dv.getUint32(0, false) !== 0xa1b2c3d4) throw new Error('not a pcap file');
  const packets = [];
  let p = 24;
  let t0 = null;
  while (p + 16 <= buf.byteLength) {
    const sec = dv.getUint32(p, le);
    const usec = dv.getUint32(p + 4, le);
    const caplen = dv.getUint32(p + 8, le);
    if (p + 16 + caplen > buf.byteLength) break;
    const bytes = new Uint8Array(buf, p + 16, caplen);
    const time = sec + usec / 1e6;
    if (t0 === null) t0 = time;
    const pkt = decodeFrame(bytes);
    pkt.no = packets.length + 1;
    pkt.time = (time - t0).toFixed(6);
    pkt.bytes = bytes;
    packets.push(pkt);
    p += 16 + caplen;
  }
  return packets;
}

// --- the page ------------------------------------------------------------------

export class CapturePage {
  constructor(name) {
    this.name = name;
    this.info = CAPTURES[name] || null;
    this.packets = [];
    this.selected = null;
    this.list = h('tbody');
    this.detail = h('div', { class: 'capture-detail' });
    this.status = h('p', { class: 'capture-status', role: 'status' });
    this.element = h('div', { class: 'capture' }, this.status);
  }

  async load() {
    if (!this.info) {
      this.status.textContent = t('captureUnknown');
      return;
    }
    this.status.textContent = t('loading');
    try {
      const r = await fetch('/captures/' + this.info.file);
      if (!r.ok) throw new Error('HTTP ' + r.status);
      this.packets = parsePcap(await r.arrayBuffer());
    } catch (e) {
      this.status.textContent = t('captureFailed', { message: e.message });
      return;
    }
    this.status.textContent = '';
    this.render();
  }

  render() {
    const head = h(
      'tr',
      null,
      ...['captureNo', 'captureTime', 'captureSource', 'captureDestination', 'captureProtocol', 'captureInfo'].map((k) =>
        h('th', { scope: 'col', text: t(k) }),
      ),
    );
    for (const pkt of this.packets) {
      const btn = h('button', {
        type: 'button',
        class: 'small',
        text: String(pkt.no),
        'aria-label': t('captureShowPacket', { no: pkt.no }),
        onclick: () => this.select(pkt),
      });
      pkt.row = h(
        'tr',
        { class: 'capture-row', dataset: { no: String(pkt.no) } },
        h('td', null, btn),
        h('td', { text: pkt.time }),
        h('td', { text: pkt.src }),
        h('td', { text: pkt.dst }),
        h('td', { text: pkt.proto }),
        h('td', { class: 'capture-info', text: pkt.info }),
      );
      this.list.append(pkt.row);
    }
    const download = h('a', {
      href: '/captures/' + this.info.file,
      download: this.info.file,
      text: t('captureDownload', { file: this.info.file }),
    });
    this.element.append(
      h('p', { class: 'capture-download' }, download),
      h('div', { class: 'capture-table' }, h('table', { class: 'capture-list' }, h('thead', null, head), this.list)),
      this.detail,
    );
    if (this.packets.length) this.select(this.packets[0]);
  }

  select(pkt) {
    if (this.selected && this.selected.row) this.selected.row.classList.remove('selected');
    this.selected = pkt;
    pkt.row.classList.add('selected');
    clear(this.detail);
    const cells = [];
    const dump = h('pre', { class: 'capture-hex', 'aria-label': t('captureHex') });
    for (let off = 0; off < pkt.bytes.length; off += HEX_ROW) {
      const row = h('span', { class: 'hexrow' }, off.toString(16).padStart(4, '0') + '  ');
      const chars = [];
      for (let i = off; i < off + HEX_ROW; i++) {
        if (i < pkt.bytes.length) {
          const b = pkt.bytes[i];
          const cell = h('span', { class: 'hexbyte', text: b.toString(16).padStart(2, '0') });
          cells[i] = [cell];
          row.append(cell, ' ');
          const ch = h('span', { class: 'hexchar', text: b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.' });
          cells[i].push(ch);
          chars.push(ch);
        } else {
          row.append('   ');
        }
      }
      row.append(' ', ...chars, '\n');
      dump.append(row);
    }
    const mark = (f, button) => {
      for (const el of this.detail.querySelectorAll('.hl')) el.classList.remove('hl');
      for (const el of this.detail.querySelectorAll('.capture-field[aria-pressed="true"]')) el.setAttribute('aria-pressed', 'false');
      for (let i = f.off; i < f.off + f.len; i++) for (const el of cells[i] || []) el.classList.add('hl');
      button.setAttribute('aria-pressed', 'true');
    };
    const tree = h('div', { class: 'capture-fields' });
    let group = null;
    for (const f of pkt.fields) {
      if (!group || group.layer !== f.layer) {
        group = { layer: f.layer, list: h('ul') };
        tree.append(h('section', { class: 'capture-layer' }, h('h3', { text: f.layer }), group.list));
      }
      const button = h(
        'button',
        {
          type: 'button',
          class: 'capture-field depth' + f.depth,
          'aria-pressed': 'false',
          title: t('captureFieldBytes', { off: f.off, len: f.len }),
        },
        h('span', { class: 'capture-name', text: f.name + (f.value ? ': ' : '') }),
        h('span', { class: 'capture-value', text: f.value }),
      );
      button.addEventListener('click', () => mark(f, button));
      group.list.append(h('li', null, button));
    }
    this.detail.append(
      h('h2', { text: t('capturePacket', { no: pkt.no, len: pkt.bytes.length }) }),
      h('div', { class: 'capture-panes' }, tree, dump),
    );
  }
}
