// annotate.js -- short explanations beside the lines of a conversation:
// reply codes, POP3 +OK/-ERR, IMAP tags, HTTP status lines and bodies, and
// hints for common mistakes. The texts are data (annotations.json); this
// file only knows how to find the line each one belongs to.
//
// One Annotator per conversation, for one protocol (known from the target
// port). feed(dir, bytes) is given the stream cut after each LF, so a call
// completes at most one line; it returns the notes for that piece:
// [{text, level, open?}] with level 'ok' | 'info' | 'warn' | 'err', and
// open {host, port, mode} when the line names a port to connect to (FTP's
// passive data port). No DOM here.

const LINE_MAX = 4096; // bytes of one line kept for reading; the rest is ignored
const LINE_PROTOCOLS = new Set(['smtp', 'ftp', 'pop3', 'imap', 'http']);
const IMAP_COMMANDS = new Set([
  'LOGIN', 'SELECT', 'EXAMINE', 'FETCH', 'LOGOUT', 'CAPABILITY', 'LIST', 'LSUB', 'NOOP',
  'SEARCH', 'STATUS', 'STORE', 'EXPUNGE', 'CLOSE', 'AUTHENTICATE', 'UID', 'CREATE', 'DELETE',
]);

let catalogue = null;
let loading = null;

// Loads annotations.json once; resolves to the catalogue or null.
export function loadAnnotations(url) {
  if (!loading) {
    loading = fetch(url, { credentials: 'same-origin' })
      .then((r) => (r.ok ? r.json() : null))
      .then((c) => {
        catalogue = c;
        return c;
      })
      .catch(() => null);
  }
  return loading;
}

// For tests under node: use this catalogue object.
export function setAnnotations(c) {
  catalogue = c;
  loading = Promise.resolve(c);
}

// 'smtp', 'ftp', ... for a target port, or '' when it has no catalogue.
export function protocolForPort(port) {
  if (!catalogue || !catalogue.ports) return '';
  return catalogue.ports[String(port)] || '';
}

function fill(s, params) {
  return String(s).replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
}

const latin1 = new TextDecoder('latin1');

function levelForClass(c) {
  if (c === '2') return 'ok';
  if (c === '4') return 'warn';
  if (c === '5') return 'err';
  return 'info';
}

export class Annotator {
  // protocol: from protocolForPort; host: the session's host (for 227).
  constructor(protocol, opts = {}) {
    this.protocol = catalogue && catalogue[protocol] ? protocol : '';
    this.c = this.protocol ? catalogue[this.protocol] : null;
    this.hints = (catalogue && catalogue.hints) || {};
    this.host = opts.host || 'lab';
    this.buf = { c2s: [], s2c: [] };
    this.bufLen = { c2s: 0, s2c: 0 };
    this.skip = 0; // s2c bytes that are a body or literal, not lines
    this.skipKind = '';
    this.bodyLength = 0;
    this.multiCode = null; // SMTP/FTP: the code of a reply with more lines
    this.pop3 = { greeted: false, cmds: [], multi: false };
    this.http = { state: 'status', methods: [], req: null };
  }

  feed(dir, bytes) {
    const out = [];
    if (!this.c) return out;
    let i = 0;
    while (i < bytes.length) {
      if (dir === 's2c' && this.skip > 0) {
        const k = Math.min(this.skip, bytes.length - i);
        this.skip -= k;
        i += k;
        if (this.skip === 0) this.skipDone(out);
        continue;
      }
      const lf = bytes.indexOf(0x0a, i);
      const end = lf < 0 ? bytes.length : lf + 1;
      if (this.bufLen[dir] < LINE_MAX) {
        this.buf[dir].push(bytes.subarray(i, Math.min(end, i + LINE_MAX - this.bufLen[dir])));
        this.bufLen[dir] += end - i;
      }
      i = end;
      if (lf < 0) break;
      const parts = this.buf[dir];
      this.buf[dir] = [];
      this.bufLen[dir] = 0;
      const raw = parts.map((p) => latin1.decode(p)).join('');
      const crlf = raw.endsWith('\r\n');
      const text = raw.replace(/\r?\n$/, '');
      const note = dir === 's2c' ? this.serverLine(text) : this.clientLine(text, crlf);
      if (note) out.push(note);
    }
    return out;
  }

  // The session ended: what is still owed.
  end() {
    const out = [];
    if (this.protocol === 'http' && this.skip > 0 && this.skipKind === 'body') {
      out.push({
        text: fill(this.c.bodyShort, { n: this.bodyLength, got: this.bodyLength - this.skip }),
        level: 'warn',
      });
      this.skip = 0;
    }
    return out;
  }

  skipDone(out) {
    if (this.skipKind === 'body') {
      out.push({ text: fill(this.c.bodyOk, { got: this.bodyLength }), level: 'ok' });
      this.http.state = 'status';
    }
    this.skipKind = '';
  }

  clientLine(text, crlf) {
    const hints = this.hints;
    let note = null;
    if (!crlf && LINE_PROTOCOLS.has(this.protocol) && hints.bareLF) {
      const name = (catalogue.protocolNames || {})[this.protocol] || this.protocol;
      note = { text: fill(hints.bareLF, { protocol: name }), level: 'warn' };
    }
    const p = this.protocol;
    if (p === 'http') {
      const req = this.http.req;
      const m = /^([A-Z]+) (\S+) (HTTP\/\d\.\d)$/.exec(text);
      if (!req && m) {
        this.http.req = { method: m[1], version: m[3], host: false };
        this.http.methods.push(m[1]);
      } else if (req && /^host\s*:/i.test(text)) {
        req.host = true;
      } else if (req && text === '') {
        if (req.version === 'HTTP/1.1' && !req.host && hints.noHost) {
          note = { text: hints.noHost, level: 'warn' };
        }
        this.http.req = null;
      }
    } else if (p === 'smtp') {
      const m = /^(MAIL FROM|RCPT TO)\s*:\s*([^<\s])/i.exec(text);
      if (m && hints.smtpNoBrackets) {
        note = note || { text: fill(hints.smtpNoBrackets, { verb: m[1].toUpperCase() }), level: 'warn' };
      }
    } else if (p === 'pop3') {
      const m = /^(\S+)(\s+\S.*)?$/.exec(text);
      if (m) this.pop3.cmds.push({ verb: m[1].toUpperCase(), arg: !!m[2] });
    } else if (p === 'imap') {
      const first = (/^(\S+)/.exec(text) || [])[1];
      if (first && IMAP_COMMANDS.has(first.toUpperCase()) && hints.imapNoTag) {
        note = note || { text: fill(hints.imapNoTag, { cmd: first.toUpperCase() }), level: 'warn' };
      }
    }
    return note;
  }

  serverLine(text) {
    switch (this.protocol) {
      case 'smtp':
      case 'ftp':
        return this.replyCode(text);
      case 'pop3':
        return this.pop3Line(text);
      case 'imap':
        return this.imapLine(text);
      case 'http':
        return this.httpLine(text);
      default:
        return null;
    }
  }

  // SMTP and FTP: "250-more" ... "250 last". Only a reply's first line
  // gets a note.
  replyCode(text) {
    const c = this.c;
    const m = /^(\d{3})([ -]?)(.*)$/.exec(text);
    if (!m) return null;
    const [, code, sep, rest] = m;
    if (this.multiCode === code) {
      if (sep !== '-') this.multiCode = null;
      return null;
    }
    this.multiCode = sep === '-' ? code : null;
    const parts = [code + ': ' + (c.codes[code] || c.classes[code[0]] || '')];
    let open = null; // a data port the student can open a session to
    if (this.protocol === 'ftp' && code === '227') {
      const p = /(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})/.exec(rest);
      if (p) {
        const p1 = Number(p[5]);
        const p2 = Number(p[6]);
        parts.push(fill(c.pasv, { p1, p2, port: p1 * 256 + p2, host: this.host }));
        open = { host: this.host, port: p1 * 256 + p2, mode: 'raw' };
      }
    } else if (this.protocol === 'ftp' && code === '229') {
      const p = /\(\|\|\|(\d{1,5})\|\)/.exec(rest);
      if (p) {
        parts.push(fill(c.epsv, { port: p[1] }));
        open = { host: this.host, port: Number(p[1]), mode: 'raw' };
      }
    }
    if (this.protocol === 'smtp') {
      const e = /^([245])\.(\d{1,3})\.(\d{1,3})\b/.exec(rest);
      if (e && c.enhanced) {
        const subject = (c.enhancedSubjects || {})[e[2]] || '';
        parts.push(fill(c.enhanced, { code: e[0], subject }));
      }
    }
    if (sep === '-' && c.more) parts.push(c.more);
    return { text: parts.join('; '), level: levelForClass(code[0]), open };
  }

  pop3Line(text) {
    const c = this.c;
    const st = this.pop3;
    if (st.multi) {
      if (text === '.') {
        st.multi = false;
        return { text: c.end, level: 'info' };
      }
      return null;
    }
    const ok = /^\+OK\b/.test(text);
    const err = /^-ERR\b/.test(text);
    if (!ok && !err) return null;
    const cmd = st.greeted ? st.cmds.shift() : null;
    st.greeted = true;
    if (err) return { text: c.err, level: 'err' };
    if (cmd) {
      const multi =
        c.multiline.includes(cmd.verb) && !(c.multilineNoArg.includes(cmd.verb) && cmd.arg);
      if (multi) {
        st.multi = true;
        return { text: c.okMulti, level: 'ok' };
      }
    }
    return { text: c.ok, level: 'ok' };
  }

  imapLine(text) {
    const c = this.c;
    let note = null;
    const lit = /\{(\d{1,9})\}$/.exec(text);
    if (text.startsWith('* ')) {
      const num = /^\* (\d+) ([A-Za-z]+)/.exec(text);
      const word = num ? num[2].toUpperCase() : ((/^\* ([A-Za-z]+)/.exec(text) || [])[1] || '').toUpperCase();
      const w = c.untaggedWords[word];
      note = { text: w ? fill(w, { n: num ? num[1] : '' }) : c.untagged, level: word === 'BYE' ? 'warn' : 'info' };
    } else if (text === '+' || text.startsWith('+ ')) {
      note = { text: c.continuation, level: 'info' };
    } else {
      const m = /^(\S+) (OK|NO|BAD)\b/i.exec(text);
      if (m) {
        const status = m[2].toUpperCase();
        note = {
          text: fill(c.tagged, { tag: m[1], status: c.status[status] || status }),
          level: status === 'OK' ? 'ok' : 'err',
        };
      }
    }
    if (lit) {
      this.skip = Number(lit[1]);
      this.skipKind = 'literal';
      const t = fill(c.literal, { n: lit[1] });
      note = note ? { text: note.text + '; ' + t, level: note.level } : { text: t, level: 'info' };
      if (this.skip === 0) this.skipKind = '';
    }
    return note;
  }

  httpLine(text) {
    const c = this.c;
    const st = this.http;
    if (st.state === 'status') {
      const m = /^(HTTP\/\d(?:\.\d)?) (\d{3})\b ?(.*)$/.exec(text);
      if (!m) return null;
      const code = m[2];
      st.state = 'headers';
      st.length = null;
      st.chunked = false;
      st.noBody = code[0] === '1' || code === '204' || code === '304' || st.methods.shift() === 'HEAD';
      const cls = c.statusClasses[code[0]] || '';
      return {
        text: fill(c.status, { version: m[1], code, meaning: c.codes[code] || m[3], class: cls }),
        level: levelForClass(code[0]),
      };
    }
    if (st.state !== 'headers') return null;
    let m;
    if ((m = /^content-length\s*:\s*(\d+)\s*$/i.exec(text))) {
      st.length = Number(m[1]);
      return { text: fill(c.contentLength, { n: st.length }), level: 'info' };
    }
    if (/^location\s*:/i.test(text)) return { text: c.location, level: 'info' };
    if (/^transfer-encoding\s*:.*chunked/i.test(text)) {
      st.chunked = true;
      return { text: c.chunked, level: 'info' };
    }
    if (text !== '') return null;
    if (st.noBody) {
      st.state = 'status';
      return null;
    }
    if (st.length != null) {
      if (st.length === 0) {
        st.state = 'status';
        return { text: fill(c.bodyOk, { got: 0 }), level: 'ok' };
      }
      st.state = 'body';
      this.skip = st.length;
      this.skipKind = 'body';
      this.bodyLength = st.length;
      return { text: c.headersEnd, level: 'info' };
    }
    st.state = 'rest';
    return { text: st.chunked ? c.headersEnd : c.headersEndNoLength, level: 'info' };
  }
}
