// session.js -- one relay session: a WebSocket to /ws (subprotocol
// portlab.v1) carrying one TCP connection to a target.
//
// Protocol (docs/protocol.md): text frames are JSON control messages,
// binary frames are payload bytes. The client sends "open" once the socket
// is up, then bytes, "pause"/"resume" and "close"; the server answers
// "opened" or "error", then bytes, "echo", "note" and finally "closed".
//
// RelaySession is an EventTarget; every event is a CustomEvent whose
// detail is listed here:
//   state   {state}             'connecting' | 'connected' | 'reconnecting' | 'closed'
//   opened  {session_id, host, port, mode, resume_token}
//   reconnecting {attempt, delay} the socket dropped; trying to resume
//   resumed {session_id, host, port, mode, echo_local}
//   data    {bytes}             bytes from the server (Uint8Array)
//   sent    {bytes, masked}     bytes this client sent (Uint8Array)
//   echo    {local}             false: the server echoes, hide typing
//   note    {text}              informational line from the server
//   error   {code, message}     the session could not be opened, or broke
//   paused  {paused}
//   closed  {reason}            once, at the end, whatever the cause
//
// Resume: when the WebSocket drops without a hang-up, portlab keeps the TCP
// side for a grace period. The session reconnects with backoff and sends
// {"type":"resume","session_id","resume_token","received"}, where received
// counts the payload bytes this browser got; portlab answers "resumed" and
// replays the bytes after that count, or error "resume_failed".
// reattach() takes the same path at once for a session this browser tab
// had before a page reload (main.js keeps them in sessionStorage).

import { wsUrl } from './api.js';
import { encodeUtf8 } from './bytes.js';
import { resolveMode } from './format.js';

export const SUBPROTOCOL = 'portlab.v1';
const MAX_FRAME = 64 * 1024; // the server's WS message limit (LIM_WS_MESSAGE_BYTES)
const SEND_CHUNK = 32 * 1024; // a longer send is cut into frames this big
const HANGUP_GRACE_MS = 5000; // wait this long for "closed" after "close"
const RECONNECT_FIRST_MS = 500; // first retry after a drop, doubling...
const RECONNECT_MAX_MS = 5000; // ...up to this
const RESUME_WINDOW_MS = 32000; // portlab keeps a dropped session 30 s
export const REPLAY_BYTES = 256 * 1024; // portlab keeps the newest bytes it sent

export class RelaySession extends EventTarget {
  // target: {host, port, mode}; mode 'auto' | 'raw' | 'telnet'.
  constructor(target) {
    super();
    this.host = String(target.host);
    this.port = Number(target.port);
    this.mode = resolveMode(target.mode, this.port);
    this.state = 'idle';
    this.sessionId = null;
    this.localEcho = true;
    this.paused = false;
    this.closeReason = null;
    this.ws = null;
    this.hangupTimer = 0;
    this.received = 0; // payload bytes from the server, for resume
    this.sent = 0; // payload bytes sent, for the live counters
    this.resumeToken = null;
    this.hangingUp = false;
    this.reconnectTimer = 0;
    this.reconnectDelay = RECONNECT_FIRST_MS;
    this.reconnectAttempt = 0;
    this.droppedAt = 0;
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', { state });
  }

  connect() {
    if (this.ws) return;
    this.setState('connecting');
    this.openSocket(() => ({ type: 'open', host: this.host, port: this.port, mode: this.mode }));
  }

  // A WebSocket whose first message is first(); false if it cannot start.
  openSocket(first) {
    let ws;
    try {
      ws = new WebSocket(wsUrl('ws'), SUBPROTOCOL);
    } catch (e) {
      this.emit('error', { code: 'ws_failed', message: String(e.message || e) });
      this.finish('connect_failed');
      return false;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.addEventListener('open', () => {
      if (this.ws === ws) this.sendControl(first());
    });
    ws.addEventListener('message', (ev) => this.ws === ws && this.onMessage(ev));
    ws.addEventListener('close', (ev) => this.ws === ws && this.onSocketClose(ev));
    // An 'error' event is always followed by 'close'; that is handled there.
    return true;
  }

  onMessage(ev) {
    if (typeof ev.data !== 'string') {
      const bytes = new Uint8Array(ev.data);
      this.received += bytes.length;
      this.emit('data', { bytes });
      return;
    }
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch (e) {
      return; // not ours to guess at
    }
    if (!msg || typeof msg !== 'object') return;
    switch (msg.type) {
      case 'opened':
        this.sessionId = msg.session_id;
        this.resumeToken = typeof msg.resume_token === 'string' ? msg.resume_token : null;
        if (msg.mode) this.mode = msg.mode;
        this.setState('connected');
        this.emit('opened', msg);
        break;
      case 'resumed':
        this.reconnectDelay = RECONNECT_FIRST_MS;
        this.reconnectAttempt = 0;
        if (typeof msg.echo_local === 'boolean' && msg.echo_local !== this.localEcho) {
          this.localEcho = msg.echo_local;
          this.emit('echo', { local: this.localEcho });
        }
        this.setState('connected');
        this.emit('resumed', msg);
        if (this.paused) this.sendControl({ type: 'pause' });
        break;
      case 'error':
        if (msg.code === 'starttls_refused') {
          // The session goes on as it was.
          this.emit('notice', { code: msg.code, message: msg.message || '' });
          break;
        }
        if (msg.code === 'resume_failed') {
          this.emit('error', { code: 'resume_failed', message: msg.message || '' });
          this.closeReason = 'connection_lost';
          break;
        }
        this.emit('error', { code: msg.code || 'error', message: msg.message || '' });
        // The server closes the socket next; the close reason follows from
        // the error code unless a "closed" message says otherwise.
        if (!this.closeReason) this.closeReason = msg.code || 'error';
        break;
      case 'echo':
        this.localEcho = msg.local !== false;
        this.emit('echo', { local: this.localEcho });
        break;
      case 'note':
        this.emit('note', { text: String(msg.text || '') });
        break;
      case 'tls':
        this.tls = true;
        this.emit('tls', { verified: msg.verified === true, summary: String(msg.summary || '') });
        break;
      case 'closed':
        this.closeReason = msg.reason || 'closed';
        break;
      default:
        // Later protocol versions add messages; ignore what we do not know.
        break;
    }
  }

  onSocketClose(ev) {
    this.ws = null;
    let reason = this.closeReason;
    if (
      !reason &&
      !this.hangingUp &&
      this.resumeToken &&
      (this.state === 'connected' || this.state === 'reconnecting')
    ) {
      this.scheduleReconnect();
      return;
    }
    if (!reason) {
      // Closed before "opened": the upgrade was refused (not signed in,
      // wrong origin) or the portal is unreachable.
      if (this.state === 'connecting' && !this.sessionId) {
        this.emit('error', { code: 'ws_failed', message: '' });
        reason = 'connect_failed';
      } else {
        reason = ev.code === 1000 ? 'closed' : 'connection_lost';
      }
    }
    this.finish(reason);
  }

  // The socket dropped while the session was up: try again with backoff
  // for as long as portlab keeps the session.
  scheduleReconnect() {
    const now = Date.now();
    if (this.state !== 'reconnecting') {
      this.droppedAt = now;
      this.reconnectDelay = RECONNECT_FIRST_MS;
      this.reconnectAttempt = 0;
      this.setState('reconnecting');
    }
    if (now - this.droppedAt > RESUME_WINDOW_MS) {
      this.finish('connection_lost');
      return;
    }
    const delay = this.reconnectDelay;
    this.reconnectAttempt += 1;
    this.reconnectDelay = Math.min(Math.max(delay * 2, RECONNECT_FIRST_MS), RECONNECT_MAX_MS);
    this.emit('reconnecting', { attempt: this.reconnectAttempt, delay });
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      if (this.state === 'reconnecting' && !this.ws) this.openResume();
    }, delay);
  }

  // A new WebSocket that takes the session over.
  openResume() {
    this.openSocket(() => ({
      type: 'resume',
      session_id: this.sessionId,
      resume_token: this.resumeToken,
      received: this.received,
    }));
  }

  // Takes over a session that an earlier page of this browser tab had:
  // saved {session_id, resume_token, received}. Then as after a drop.
  reattach(saved) {
    if (this.state !== 'idle') return;
    this.sessionId = saved.session_id;
    this.resumeToken = saved.resume_token;
    this.received = saved.received;
    this.droppedAt = Date.now();
    this.setState('reconnecting');
    this.openResume();
  }

  // Tries again now (a "Reconnect now" button, or the browser went online).
  reconnectNow() {
    if (this.state !== 'reconnecting' || this.ws) return;
    this.reconnectDelay = 0;
    clearTimeout(this.reconnectTimer);
    this.scheduleReconnect();
  }

  finish(reason) {
    if (this.state === 'closed') return;
    clearTimeout(this.hangupTimer);
    clearTimeout(this.reconnectTimer);
    this.closeReason = reason;
    this.setState('closed');
    this.emit('closed', { reason });
  }

  sendControl(obj) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  }

  get canSend() {
    return this.state === 'connected' && this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  // Sends raw bytes, in one frame when they fit. Returns false if not sent.
  sendBytes(bytes, masked = false) {
    if (!this.canSend) return false;
    if (bytes.length <= MAX_FRAME) {
      this.ws.send(bytes);
    } else {
      for (let i = 0; i < bytes.length; i += SEND_CHUNK) {
        this.ws.send(bytes.subarray(i, Math.min(i + SEND_CHUNK, bytes.length)));
      }
    }
    this.sent += bytes.length;
    this.emit('sent', { bytes, masked });
    return true;
  }

  // Sends a line of text (UTF-8) followed by eol ("\r\n" by default).
  // Upgrades a raw session to TLS after the server agreed to STARTTLS.
  startTls() {
    return this.sendControl({ type: 'starttls' });
  }

  sendLine(text, eol = '\r\n') {
    return this.sendBytes(encodeUtf8(text + eol), !this.localEcho);
  }

  pause() {
    if (this.paused || !this.sendControl({ type: 'pause' })) return;
    this.paused = true;
    this.emit('paused', { paused: true });
  }

  resume() {
    if (!this.paused || !this.sendControl({ type: 'resume' })) return;
    this.paused = false;
    this.emit('paused', { paused: false });
  }

  // Hangs up: asks the server to close the connection; if it does not
  // answer in time, the socket is closed from this side.
  hangup() {
    this.hangingUp = true;
    if (this.state === 'reconnecting' && !this.ws) {
      this.finish('client_closed');
      return;
    }
    if (!this.ws) return;
    if (this.ws.readyState === WebSocket.CONNECTING || !this.sendControl({ type: 'close' })) {
      if (!this.closeReason) this.closeReason = 'client_closed';
      this.ws.close(1000);
      return;
    }
    clearTimeout(this.hangupTimer);
    this.hangupTimer = setTimeout(() => {
      if (!this.ws) return;
      if (!this.closeReason) this.closeReason = 'client_closed';
      this.ws.close(1000);
    }, HANGUP_GRACE_MS);
  }
}
