// bytes.js -- turning raw bytes into visible text, the way a teacher wants
// to see them: printable text as it is, invisible bytes as marks.
//
//   CR -> "␍"   LF -> "␊" and a line break   NUL -> "␀"
//   other control bytes and DEL -> \xNN
//   bytes >= 0x80: decoded as UTF-8 where the sequence is valid (C1 control
//   characters excepted), else each byte as \xNN.
//   Unicode format characters (category Cf: bidi overrides and isolates,
//   zero-width spaces and joiners, the BOM, tag characters) -> "⟨U+202E⟩":
//   invisible, they would hide bytes or turn the text around on screen.
//
// A UTF-8 sequence split across two chunks of the same stream is held back
// until the next chunk arrives (ByteRenderer keeps the tail). No DOM here,
// so this file runs under node for tests.
//
// With {telnet: true} (a telnet stream whose bytes still hold the option
// negotiation, as the transcript records them), IAC sequences are decoded
// into one mark each: FF FB 01 -> "⟨IAC WILL ECHO⟩" (RFC 854, RFC 855).

const utf8 = new TextDecoder('utf-8');
const utf8enc = new TextEncoder();

export const MARK_CR = '\u240d';
export const MARK_LF = '\u240a';
export const MARK_NUL = '\u2400';
export const MASK_CHAR = '\u2022';

export function encodeUtf8(s) {
  return utf8enc.encode(s);
}

// Base64 (standard alphabet) to bytes; an invalid input gives empty bytes.
export function decodeBase64(b64) {
  let bin;
  try {
    bin = atob(b64);
  } catch (e) {
    return new Uint8Array(0);
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const FORMAT_CHAR = /\p{Cf}/u;
const FORMAT_SPLIT = /(\p{Cf})/u; // split() keeps each one at an odd index
const FORMAT_GLOBAL = /\p{Cf}/gu;

function formatMark(ch) {
  return '\u27e8U+' + ch.codePointAt(0).toString(16).toUpperCase().padStart(4, '0') + '\u27e9';
}

// Text with each format character written as its mark (for a label drawn
// outside a ByteRenderer, such as a command marker).
export function showFormatChars(s) {
  return s.replace(FORMAT_GLOBAL, formatMark);
}

function hex(b) {
  return '\\x' + (b < 16 ? '0' : '') + b.toString(16);
}

// Length of the valid UTF-8 sequence at bytes[i] (lead byte >= 0x80):
// > 0 valid, 0 valid so far but cut off by the end of the buffer, -1 not
// valid (or a C1 control, which is shown as bytes).
function seqLen(bytes, i) {
  const n = bytes.length;
  const b0 = bytes[i];
  let len;
  let lo = 0x80;
  let hi = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    len = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3;
    if (b0 === 0xe0) lo = 0xa0;
    else if (b0 === 0xed) hi = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4;
    if (b0 === 0xf0) lo = 0x90;
    else if (b0 === 0xf4) hi = 0x8f;
  } else {
    return -1;
  }
  for (let k = 1; k < len; k++) {
    if (i + k >= n) return 0;
    const b = bytes[i + k];
    if (k === 1 ? b < lo || b > hi : b < 0x80 || b > 0xbf) return -1;
  }
  if (b0 === 0xc2 && bytes[i + 1] < 0xa0) return -1; // U+0080..U+009F
  return len;
}

// A rendering is a list of pieces [kind, text]: TEXT as it is, MARK for an
// invisible byte, BREAK (text '') where a line ends after an LF.
// Consecutive TEXT or MARK pieces are merged.
export const TEXT = 0;
export const MARK = 1;
export const BREAK = 2;
export const CMD = 3; // a decoded telnet command

// Telnet commands (RFC 854) and the options a lab meets (RFC 855 ff.).
const IAC = 0xff;
const SB = 0xfa;
const SE = 0xf0;
const TELNET_CMDS = {
  0xf0: 'SE', 0xf1: 'NOP', 0xf2: 'DM', 0xf3: 'BRK', 0xf4: 'IP', 0xf5: 'AO', 0xf6: 'AYT',
  0xf7: 'EC', 0xf8: 'EL', 0xf9: 'GA', 0xfa: 'SB', 0xfb: 'WILL', 0xfc: 'WONT', 0xfd: 'DO',
  0xfe: 'DONT',
};
const TELNET_OPTS = {
  0: 'BINARY', 1: 'ECHO', 3: 'SUPPRESS-GO-AHEAD', 5: 'STATUS', 6: 'TIMING-MARK',
  24: 'TERMINAL-TYPE', 31: 'NAWS', 32: 'TERMINAL-SPEED', 33: 'LFLOW', 34: 'LINEMODE',
  35: 'X-DISPLAY-LOCATION', 36: 'OLD-ENVIRON', 37: 'AUTHENTICATION', 38: 'ENCRYPT',
  39: 'NEW-ENVIRON',
};
const SB_MAX = 512; // a longer subnegotiation is shown byte by byte

function optName(b) {
  return TELNET_OPTS[b] || String(b);
}

function hex2(b) {
  return (b < 16 ? '0' : '') + b.toString(16).toUpperCase();
}

// The telnet command at bytes[i] (an IAC): [length, text], [0] when the
// buffer ends inside it, or null for IAC IAC (a literal 0xFF data byte).
export function telnetCommand(bytes, i) {
  const n = bytes.length;
  if (i + 1 >= n) return [0];
  const c = bytes[i + 1];
  if (c === IAC) return null;
  if (c >= 0xfb && c <= 0xfe) {
    if (i + 2 >= n) return [0];
    return [3, '\u27e8IAC ' + TELNET_CMDS[c] + ' ' + optName(bytes[i + 2]) + '\u27e9'];
  }
  if (c === SB) {
    for (let k = i + 2; k + 1 < n && k - i < SB_MAX; k++) {
      if (bytes[k] === IAC && bytes[k + 1] === SE) {
        const body = [];
        if (i + 2 < k) body.push(optName(bytes[i + 2]));
        for (let j = i + 3; j < k; j++) body.push(hex2(bytes[j]));
        return [k + 2 - i, '\u27e8IAC SB ' + body.join(' ') + ' IAC SE\u27e9'];
      }
    }
    if (n - i < SB_MAX) return [0];
    return [2, '\u27e8IAC SB\u27e9'];
  }
  return [2, '\u27e8IAC ' + (TELNET_CMDS[c] || hex2(c)) + '\u27e9'];
}

function pushPiece(out, kind, s) {
  const last = out[out.length - 1];
  if (last && last[0] === kind && kind !== BREAK) last[1] += s;
  else out.push([kind, s]);
}

function markFor(out, b) {
  if (b === 0x0d) pushPiece(out, MARK, MARK_CR);
  else if (b === 0x0a) {
    pushPiece(out, MARK, MARK_LF);
    pushPiece(out, BREAK, '');
  } else if (b === 0x00) pushPiece(out, MARK, MARK_NUL);
  else pushPiece(out, MARK, hex(b));
}

// The data bytes of a telnet stream: commands taken out, IAC IAC as one
// 0xFF (a command cut off at the end is dropped).
export function stripTelnet(bytes) {
  const out = [];
  let i = 0;
  while (i < bytes.length) {
    if (bytes[i] !== IAC) {
      out.push(bytes[i++]);
      continue;
    }
    const cmd = telnetCommand(bytes, i);
    if (cmd === null) {
      out.push(0xff);
      i += 2;
    } else if (cmd[0] === 0) {
      break;
    } else {
      i += cmd[0];
    }
  }
  return Uint8Array.from(out);
}

// One ByteRenderer per stream direction.
export class ByteRenderer {
  // opts.telnet: decode IAC sequences (see above).
  constructor(opts = {}) {
    this.pending = null;
    this.telnet = !!opts.telnet;
  }

  // Renders a chunk. mask: show each character as a bullet (the bytes of a
  // password typed while the server echoes); marks still show.
  feed(input, mask = false) {
    let bytes = input;
    if (this.pending) {
      bytes = new Uint8Array(this.pending.length + input.length);
      bytes.set(this.pending, 0);
      bytes.set(input, this.pending.length);
      this.pending = null;
    }
    const out = [];
    const n = bytes.length;
    let runStart = 0;
    const flushRun = (end) => {
      if (end <= runStart) return;
      const run = bytes.subarray(runStart, end);
      if (mask) {
        let chars = 0;
        for (const b of run) if ((b & 0xc0) !== 0x80) chars++;
        pushPiece(out, TEXT, MASK_CHAR.repeat(chars));
      } else {
        const text = utf8.decode(run);
        if (!FORMAT_CHAR.test(text)) {
          pushPiece(out, TEXT, text);
          return;
        }
        text.split(FORMAT_SPLIT).forEach((part, k) => {
          if (k % 2) pushPiece(out, MARK, formatMark(part));
          else if (part) pushPiece(out, TEXT, part);
        });
      }
    };
    let i = 0;
    while (i < n) {
      const b = bytes[i];
      if (b >= 0x20 && b < 0x7f) {
        i++;
        continue;
      }
      if (b === IAC && this.telnet) {
        const cmd = telnetCommand(bytes, i);
        if (cmd === null) {
          // IAC IAC: one data byte 0xFF.
          flushRun(i);
          pushPiece(out, MARK, hex(0xff));
          i += 2;
          runStart = i;
          continue;
        }
        if (cmd[0] === 0) {
          flushRun(i);
          this.pending = bytes.slice(i);
          return out;
        }
        flushRun(i);
        out.push([CMD, cmd[1]]);
        i += cmd[0];
        runStart = i;
        continue;
      }
      if (b >= 0x80) {
        const len = seqLen(bytes, i);
        if (len > 0) {
          i += len;
          continue;
        }
        if (len === 0) {
          flushRun(i);
          this.pending = bytes.slice(i);
          return out;
        }
      }
      flushRun(i);
      markFor(out, b);
      i++;
      runStart = i;
    }
    flushRun(n);
    return out;
  }

  // Ends the stream for now: a held-back partial sequence is shown as bytes.
  flush() {
    const out = [];
    if (this.pending) {
      for (const b of this.pending) markFor(out, b);
      this.pending = null;
    }
    return out;
  }
}
