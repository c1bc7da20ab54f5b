// localcmd.js -- the terminal's local prompt: a few commands that run in
// the browser before a session connects and after it closes.
//
//   telnet HOST [PORT]   connect (telnet mode for port 23, raw otherwise)
//   nc HOST PORT         connect in raw mode: every byte as it is
//   tls HOST PORT        connect through TLS, portlab as the TLS client
//                        (also: openssl s_client -connect HOST:PORT)
//   ports                the lab's services
//   help, clear

import { t } from './strings.js';
import { quizOpen } from './quizmode.js';

const HOST_RE = /^[^\s/]{1,253}$/;

// io: print(line), clear(), targets() -> /api/targets answer or null,
// connect({host, port, mode}).
export function runLocalCommand(line, io) {
  const words = line.split(/\s+/).filter(Boolean);
  if (words.length === 0) return;
  const cmd = words[0].toLowerCase();
  // Flags such as "nc -v" or "telnet -8" change nothing here.
  const args = words.slice(1).filter((w) => !w.startsWith('-'));
  switch (cmd) {
    case 'help':
    case '?':
      for (const l of t(quizOpen() ? 'localHelpQuiz' : 'localHelp').split('\n')) io.print(l);
      return;
    case 'clear':
    case 'cls':
      io.clear();
      return;
    case 'ports':
      printPorts(io);
      return;
    case 'telnet':
    case 'open':
    case 'nc':
    case 'netcat':
    case 'ncat': {
      const raw = cmd !== 'telnet' && cmd !== 'open';
      const usage = raw ? t('ncUsage') : t('telnetUsage');
      if (args.length < 1 || args.length > 2 || (raw && args.length !== 2)) {
        io.print(usage);
        return;
      }
      const host = args[0].replace(/^\[(.*)\]$/, '$1');
      const portText = args[1] || '23';
      const port = Number(portText);
      if (!HOST_RE.test(host) || !/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) {
        io.print(usage);
        return;
      }
      io.connect({ host, port, mode: raw ? 'raw' : 'auto', name: serviceName(io, host, port) });
      return;
    }
    case 'tls':
    case 'openssl': {
      // "openssl s_client -connect HOST:PORT" as students know it.
      let hp = args;
      if (cmd === 'openssl') {
        const i = words.indexOf('-connect');
        const spec = i > 0 ? words[i + 1] || '' : '';
        const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(spec);
        hp = words[1] === 's_client' && m ? [m[1], m[2]] : [];
      }
      if (hp.length !== 2) {
        io.print(t('tlsUsage'));
        return;
      }
      const host = hp[0].replace(/^\[(.*)\]$/, '$1');
      const port = Number(hp[1]);
      if (!HOST_RE.test(host) || !/^\d{1,5}$/.test(hp[1]) || port < 1 || port > 65535) {
        io.print(t('tlsUsage'));
        return;
      }
      io.connect({ host, port, mode: 'tls', name: serviceName(io, host, port) });
      return;
    }
    default:
      io.print(t('localUnknown', { cmd: words[0] }));
  }
}

function serviceName(io, host, port) {
  const targets = io.targets();
  const lab = targets && !(targets instanceof Error) ? targets.lab : null;
  if (!lab || host !== (lab.host || 'lab')) return undefined;
  const svc = (lab.services || []).find((s) => Number(s.port) === port);
  return svc ? svc.name : undefined;
}

function printPorts(io) {
  if (quizOpen()) {
    io.print(t('portsHiddenQuiz'));
    return;
  }
  const targets = io.targets();
  const lab = targets && !(targets instanceof Error) ? targets.lab : null;
  if (!lab) {
    io.print(t('portsUnavailable'));
    return;
  }
  const host = lab.host || 'lab';
  io.print(t('portsTitle', { host }));
  for (const s of lab.services || []) {
    io.print(
      t('portsLine', {
        port: String(s.port).padStart(5),
        name: String(s.name).padEnd(7),
        cmd: 'telnet ' + host + ' ' + s.port,
      }),
    );
  }
  if (lab.pasv && lab.pasv.from) {
    io.print(t('pasvRange', { host, from: lab.pasv.from, to: lab.pasv.to }));
  }
  const rules = ((targets && targets.allowed) || []).map((a) => a.rule).filter(Boolean);
  if (rules.length) io.print(t('allowedTitle') + ' ' + rules.join(', '));
}

// "48 45 4c 4f 0d 0a", "0x48,0x45", "48454c4f" -> bytes; null if invalid.
export function parseHex(text) {
  const clean = String(text)
    .replace(/0x/gi, '')
    .replace(/[\s,:;-]+/g, '');
  if (clean === '' || clean.length % 2 !== 0 || !/^[0-9a-f]+$/i.test(clean)) return null;
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.substr(i * 2, 2), 16);
  return out;
}
