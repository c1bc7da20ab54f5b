// strings.js -- every user-visible text of the browser UI, in one object.
//
// To translate portlab, copy this object and change the values; keys stay.
// Values may hold {placeholders} filled by t(). Static markup in index.html
// refers to keys through data-i18n* attributes (see dom.js applyStrings).

export const strings = {
  lang: 'en',
  productName: 'portlab',
  loading: 'Loading…',
  skipToMain: 'Skip to the sessions',

  // Header.
  signedInAs: 'Signed in as {name}',
  roleStudent: 'student',
  roleTeacher: 'teacher',
  labCredentials: 'Lab login',
  labUser: 'user',
  labPassword: 'password',
  hideCredentials: 'Hide',
  showCredentials: 'Show',
  hiddenValue: '••••••',
  largeText: 'Larger text',
  logout: 'Log out',
  logoutFailed: 'Could not log out: {message}',

  // Join and teacher login.
  joinTitle: 'Join the lab',
  joinIntro: 'Pick a name. Your teacher will see it next to everything you send.',
  nameLabel: 'Your name',
  nameHint: '1 to 32 letters, digits, dot, dash or underscore.',
  classCodeLabel: 'Class code',
  classCodeHint: 'Only if your teacher gave you one.',
  rejoinCodeLabel: 'Rejoin code',
  rejoinCodeHint: 'Only if you joined before under this name.',
  joinButton: 'Join',
  joining: 'Joining…',
  teacherTitle: 'I am the teacher',
  teacherPasswordLabel: 'Teacher password',
  teacherLoginButton: 'Log in',
  nameInvalid: 'Use 1 to 32 characters: letters A–Z, digits, dot, dash or underscore.',
  nameTaken: 'That name is taken; enter your rejoin code.',
  classCodeWrong: 'That class code is not right.',
  teacherPasswordWrong: 'Wrong password.',
  passwordMissing: 'Enter the password.',
  rejoinTitle: 'Your rejoin code',
  rejoinText: 'Write this down to get back in from another browser. It is shown only once.',
  rejoinDismiss: 'I wrote it down',
  sessionExpired: 'You are signed out. Join again to go on.',

  // Targets.
  targetsTitle: 'Connect to',
  labServices: 'Lab servers',
  serviceButton: '{name}',
  serviceDetail: '{target}',
  otherTarget: 'Other host and port',
  hostLabel: 'Host',
  portLabel: 'Port',
  modeLabel: 'Mode',
  modeAuto: 'auto',
  modeRaw: 'raw',
  modeTelnet: 'telnet',
  modeHelp: 'auto = telnet for port 23, raw for every other port.',
  connectButton: 'Connect',
  hostInvalid: 'Enter a host name or address without spaces.',
  portInvalid: 'Enter a port from 1 to 65535.',
  pasvRange: 'FTP passive data ports: {host}:{from}–{to}',
  allowedTitle: 'Also allowed:',
  targetsFailed: 'Could not load the targets: {message}',
  newSessionTitle: 'New session',
  newSessionIntro: 'Choose a server to talk to.',

  // Sessions list.
  sessionsTitle: 'My sessions',
  sessionsTitleTeacher: 'All sessions',
  refresh: 'Refresh',
  userFilterLabel: 'Student name',
  userFilterButton: 'Filter',
  noSessions: 'No sessions yet.',
  sessionsFailed: 'Could not load the sessions: {message}',
  sessionOpen: 'open',
  sessionSummary: '#{id} {target}',
  bytesUpDown: '↑{up} ↓{down}',

  // Tabs.
  tabsLabel: 'Sessions',
  newTab: 'New session',
  newTabShort: '+',
  closeTab: 'Close tab {label}',
  closeTabShort: '×',
  confirmCloseLive: 'This session is still connected. Hang up and close the tab?',
  transcriptTabLabel: '#{id} {target}',

  // Live session.
  statusConnecting: 'connecting to {target}…',
  statusConnected: 'connected to {target} ({mode})',
  statusPaused: 'paused: {target}',
  statusClosed: 'closed: {reason}',
  statusError: 'failed: {message}',
  remoteEcho: 'remote echo: your typing is hidden',
  pause: 'Pause',
  resume: 'Resume',
  hangUp: 'Hang up (Ctrl-])',
  reconnect: 'Connect again',
  viewTranscript: 'Recorded transcript',
  lineLabel: 'Line to send',
  lineHint: 'Enter sends the line and the line ending. ↑ and ↓ recall earlier lines. Ctrl-] hangs up.',
  lineEndingLabel: 'Line ending',
  eolCRLF: 'CR LF',
  eolLF: 'LF only',
  eolNone: 'none',
  send: 'Send',
  legendClient: 'you (client)',
  legendServer: 'server',
  legendNote: 'notes',
  jumpToEnd: 'New output ↓',

  // Telnet-like notes in the conversation.
  noteTrying: 'Trying {target}...',
  noteConnected: 'Connected to {host}.',
  noteEscape: "Escape character is '^]'.",
  noteForeignClosed: 'Connection closed by foreign host.',
  noteClosed: 'Connection closed: {reason}.',
  noteError: 'Unable to connect: {message}',
  noteEchoRemote: 'The server now echoes; your typing is hidden.',
  noteEchoLocal: 'The server stopped echoing; your typing is shown again.',
  notePaused: 'Paused: the server’s bytes wait until you resume.',
  noteResumed: 'Resumed.',
  noteTrimmed: '…earlier output trimmed',
  noteTooLong: '…the rest is too long to show here; download the transcript',

  // Close reasons (server codes); unknown codes are shown as they are.
  reasons: {
    remote_closed: 'the server closed the connection',
    idle_timeout: 'nothing was sent for too long',
    session_timeout: 'the session reached its time limit',
    client_closed: 'you hung up',
    server_shutdown: 'portlab is shutting down',
    connect_timeout: 'the server did not answer in time',
    connection_lost: 'the connection to portlab was lost',
    connect_failed: 'could not connect',
  },

  // Error codes (REST and WebSocket); unknown codes fall back to the
  // server's message.
  errors: {
    bad_request: 'The request was not understood.',
    unauthorized: 'You are not signed in.',
    target_denied: 'That target is not allowed.',
    connect_failed: 'Could not connect to the server.',
    too_many_sessions: 'You have too many sessions open. Hang up one first.',
    message_too_big: 'That was too much to send at once.',
    invalid_name: 'That name is not allowed.',
    bad_class_code: 'That class code is not right.',
    name_taken: 'That name is taken; enter your rejoin code.',
    not_found: 'Not found.',
    network: 'portlab cannot be reached. Check your network.',
    ws_failed: 'Could not open the connection to portlab. Are you still signed in?',
    http: 'The server answered with status {status}.',
  },

  // Transcript view.
  transcriptLoading: 'Loading transcript…',
  transcriptFailed: 'Could not load the transcript: {message}',
  transcriptStarted: 'started {time}',
  transcriptEnded: 'ended {time}',
  transcriptStillOpen: 'still open',
  transcriptBytes: '{up} sent, {down} received',
  transcriptReason: 'closed: {reason}',
  transcriptUser: 'by {user}',
  downloadTxt: 'Download as text',
  downloadJson: 'Download as JSON',
  reload: 'Reload',

  // Units.
  bytesB: '{n} B',
  bytesKB: '{n} KB',
  bytesMB: '{n} MB',
};

// t('key', {name: 'x'}) -> the string with {name} filled in. A dotted key
// reaches into nested objects ('reasons.idle_timeout'). A missing key
// returns the key itself so a gap is visible rather than blank.
export function t(key, params) {
  let v = strings;
  for (const part of key.split('.')) {
    v = v == null ? undefined : v[part];
  }
  if (typeof v !== 'string') return key;
  if (!params) return v;
  return v.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

// The text for an error code, else the server's own message, else the code.
export function errorText(code, message, params) {
  if (code && typeof strings.errors[code] === 'string') {
    // Server messages for denials carry the reason; keep them.
    const base = t('errors.' + code, params);
    if (message && message !== base && (code === 'target_denied' || code === 'connect_failed')) {
      return base + ' ' + message;
    }
    return base;
  }
  return message || code || '';
}

// The text for a close reason code.
export function reasonText(reason) {
  if (!reason) return '';
  return typeof strings.reasons[reason] === 'string' ? strings.reasons[reason] : reason;
}
