// dnsquery.js -- the DNS query builder: a name and a record type become the
// bytes of one DNS query over TCP, written into the hex sender so the
// student reads them before sending.
//
// The message is RFC 1035 section 4.1: a 12-byte header (ID, flags with
// RD set, one question), the name as length-prefixed labels ending in a
// zero byte, then QTYPE and QCLASS IN. Over TCP (section 4.2.2) two bytes
// of length go in front. No compression in the question; no EDNS.
//
// encodeDnsQuery and toHex need no DOM, so they run under node too.

import { h, uid } from './dom.js';
import { t } from './strings.js';

export const DNS_TYPES = { A: 1, AAAA: 28, MX: 15, TXT: 16, NS: 2, SOA: 6, ANY: 255, AXFR: 252 };
export const DNS_QUERY_ID = 0xabcd; // fixed, so the lesson can show the same bytes

// The query for name ("lab", "flag.lab.") and type (a DNS_TYPES key) with
// its TCP length prefix, or null if the name is not a DNS name: labels of
// 1-63 ASCII bytes, at most 255 bytes on the wire.
export function encodeDnsQuery(name, type, id = DNS_QUERY_ID) {
  const qtype = DNS_TYPES[type];
  if (qtype === undefined) return null;
  let n = String(name).trim();
  if (n.endsWith('.')) n = n.slice(0, -1);
  const labels = n === '' ? [] : n.split('.');
  const wire = [];
  for (const label of labels) {
    if (label.length < 1 || label.length > 63 || !/^[\x21-\x7e]+$/.test(label)) return null;
    wire.push(label.length);
    for (let i = 0; i < label.length; i++) wire.push(label.charCodeAt(i));
  }
  wire.push(0);
  if (wire.length > 255) return null;
  const msg = [id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, ...wire, qtype >> 8, qtype & 0xff, 0, 1];
  return new Uint8Array([msg.length >> 8, msg.length & 0xff, ...msg]);
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => (b < 16 ? '0' : '') + b.toString(16)).join(' ');
}

// The builder's form. opts: onFill(hexText) puts the bytes in the sender.
export class DnsQueryBuilder {
  constructor(opts) {
    const nameId = uid('dns-name');
    const typeId = uid('dns-type');
    const errId = uid('dns-err');
    this.name = h('input', {
      id: nameId,
      class: 'dns-name',
      type: 'text',
      value: 'lab',
      autocomplete: 'off',
      autocapitalize: 'off',
      spellcheck: 'false',
      maxlength: '253',
      'aria-describedby': errId,
    });
    this.type = h(
      'select',
      { id: typeId, class: 'dns-type' },
      ...Object.keys(DNS_TYPES).map((k) => h('option', { value: k, text: k })),
    );
    this.err = h('p', { id: errId, class: 'field-error', hidden: true });
    this.element = h(
      'form',
      { class: 'dns-builder', onsubmit: (e) => this.onSubmit(e) },
      h('p', { class: 'dns-builder-title', text: t('dnsBuilderTitle') }),
      h(
        'div',
        { class: 'row' },
        h('label', { for: nameId, text: t('dnsNameLabel') }),
        this.name,
        h('label', { for: typeId, text: t('dnsTypeLabel') }),
        this.type,
        h('button', { type: 'submit', class: 'dns-fill', text: t('dnsFill') }),
      ),
      this.err,
      h('p', { class: 'hint', text: t('dnsBuilderHint') }),
    );
    this.onFill = opts.onFill;
  }

  onSubmit(e) {
    e.preventDefault();
    const bytes = encodeDnsQuery(this.name.value, this.type.value);
    this.err.hidden = !!bytes;
    this.err.textContent = bytes ? '' : t('dnsBadName');
    if (!bytes) {
      this.name.setAttribute('aria-invalid', 'true');
      return;
    }
    this.name.removeAttribute('aria-invalid');
    this.onFill(toHex(bytes));
  }
}
