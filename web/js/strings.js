// strings.js -- every user-visible text of the browser UI, in one object.
//
// To translate portlab, copy this object and change the values; keys stay.
// Values may hold {placeholders} filled by t(). Static markup in index.html
// refers to keys through data-i18n* attributes (see dom.js applyStrings).

export const strings = {
  lang: 'en',
  productName: 'portlab',
  loading: 'Loading…',
  skipToMain: 'Skip to the main content',

  // Navigation.
  navLabel: 'Pages',
  navLessons: 'Lessons',
  navLab: 'Free lab',
  navTeacher: 'Class progress',
  breadcrumbs: 'You are here',
  labSideLabel: 'Targets and recorded sessions',

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

  // Lessons.
  lessonsTitle: 'Lessons',
  lessonsIntro: 'Work through them in order. Each lesson opens the servers it needs beside its text.',
  freeLab: 'Free lab',
  lessonsFailed: 'Could not load the lessons: {message}',
  lessonsTotal: 'Your score so far: {score} of {points} points.',
  noLessons: 'There are no lessons yet.',
  lessonProgressLabel: 'Progress in {title}',
  lessonTasks: '{solved} of {tasks} tasks solved',
  lessonScore: '{score} / {points} points',
  lessonDone: 'done',
  backToLessons: '← All lessons',
  skipToSessions: 'Skip to the sessions',
  lessonNotFound: 'Lesson not found',
  lessonFailed: 'Could not load the lesson: {message}',
  openTarget: 'Open a session to {host}:{port}',
  openSession: 'Open a session',
  sessionLinkTarget: '{host}:{port}',
  moreTasks: 'More tasks',

  // Tasks.
  taskKind: { question: 'Question', flag: 'Flag', check: 'Lab task' },
  pointOne: '{n} point',
  pointMany: '{n} points',
  taskAnswerLabel: 'Your answer',
  taskFlagLabel: 'The flag you found',
  taskCheck: 'Check',
  taskCheckWork: 'Check my work',
  taskCheckHelp: 'Do it in a session first; portlab checks what the lab servers saw.',
  taskShowHint: 'Show hint',
  taskHideHint: 'Hide hint',
  taskSolved: '✓ solved, +{n}',
  taskAttempts: '{n} tries',
  taskEmpty: 'Type an answer first.',
  taskChecking: 'Checking…',
  taskCorrect: 'Correct! +{n} points.',
  taskWrong: 'Not quite. Try again.',
  taskNotYet: 'Not yet: the lab has not seen this happen for your account. Do it, then check again.',
  taskTooMany: 'Too many tries on this task. Ask your teacher.',
  taskFailed: 'Could not check: {message}',

  // Teacher.
  progressTitle: 'Class progress',
  progressIntro:
    'Every student who joined, their points per lesson and where they are stuck. Choose a name for its actions, a session on the right to read its transcript.',
  progressFailed: 'Could not load the progress: {message}',
  progressEmpty: 'No student has joined yet.',
  gradebookDownload: 'Download CSV',
  gradebookTasksTitle: 'Tasks',
  gradebookSeen: 'Last seen',
  gradebookStuck: 'Stuck on',
  gradebookStuckCell: '{item}: {attempts} tries, {min} min',
  gradebookOnline: 'online',
  gradebookOffline: 'offline',
  gradebookOpen: '{n} open',
  gradebookSolvedBy: '{n} of {of} solved',
  gradebookCellTitle: '{attempts} attempts; first {first}; solved {solved}',
  gradebookStudentTitle: 'Student {name}',
  gradebookJoined: 'joined {when}',
  gradebookLastSeen: 'last seen {when}',
  gradebookRejoin: 'New rejoin code',
  gradebookSignOut: 'Sign out',
  gradebookResetLab: 'Reset lab data',
  gradebookRemove: 'Remove',
  gradebookPurge: 'and delete their transcripts',
  gradebookConfirmSignOut: 'Sign {name} out and end their sessions?',
  gradebookConfirmReset: 'Put {name}\'s lab mail and files back to the start? Their changes are lost.',
  gradebookConfirmRemove: 'Remove {name} from the class? They can no longer log in; their transcripts stay.',
  gradebookConfirmPurge: 'Remove {name} and delete all their transcripts? This cannot be undone.',
  gradebookNewCode: 'New rejoin code for {name}: {code} (shown once; the old one no longer works)',
  gradebookDone: {
    'sign-out': '{name} is signed out.',
    'reset-lab': '{name}\'s lab data is back to the start.',
    remove: '{name} was removed.',
  },
  gradebookRefusals: 'Why they could not connect',
  gradebookNoRefusals: 'No refusals or protocol errors.',
  classTitle: 'Class settings',
  classCode: 'Class code',
  classCodeHint: 'Students need it to join; empty: anyone who can reach the page may join.',
  classRules: 'Allowed real targets',
  classRulesHint: 'One rule a line, like --allow: 192.0.2.0/24:25 or mail.school.example:25,110.',
  classFixed: '(set by a flag; fixed)',
  classSave: 'Save',
  classSaved: 'Saved. The next session uses it.',
  auditTitle: 'Class log',
  auditEmpty: 'No changes yet.',
  audit: {
    rejoin_code: 'new rejoin code for',
    sign_out: 'signed out',
    remove: 'removed',
    reset_lab: 'reset the lab data of',
    class_code: 'changed the class code',
    allow_rules: 'changed the allowed targets',
  },
  progressStudent: 'Student',
  progressOutOf: '/ {points}',
  progressTotal: 'Total / {points}',
  backToProgress: '← Class progress',
  usageTitle: 'Usage',
  usageIntro: 'Recorded bytes against each budget, open sessions and refused session opens.',
  usageFailed: 'Could not load the usage: {message}',
  usageStudent: 'Student',
  usageRecorded: 'Recorded',
  usageSessions: 'Open sessions',
  usageRefused: 'Refused opens',
  usageLastReason: 'Last refusal',
  usageOf: '{used} of {budget}',
  usageTotals: 'Class: {recorded} of {budget} recorded; {free} free on disk (floor {floor}); {sessions} of {max} sessions open.',
  usageUnknown: 'unknown',
  usageWarn: {
    record_total_near: 'Recording is near the class budget (--record-bytes-total). Raise it or clear old transcripts.',
    record_total_reached: 'The class recording budget is used up: new bytes are no longer recorded.',
    disk_low: 'The server\'s disk is below --disk-floor: recording has stopped.',
  },
  backToLab: '← Free lab',

  // Sessions list.
  sessionsTitle: 'My sessions',
  sessionsTitleTeacher: 'All sessions',
  refresh: 'Refresh',
  userFilterLabel: 'Student name',
  userFilterButton: 'Filter',
  noSessions: 'No sessions yet.',
  moreSessions: 'Show older sessions',
  sessionsFailed: 'Could not load the sessions: {message}',
  sessionOpen: 'open',
  sessionRefused: 'refused: {reason}',
  sessionSummary: '#{id} {target}',
  bytesUpDown: '↑{up} ↓{down}',
  reasonClientClosedTeacher: 'the student hung up',

  // Tabs.
  tabsLabel: 'Sessions',
  newTab: 'New session',
  newTabShort: '+',
  closeTab: 'Close tab {label}',
  closeTabShort: '×',
  confirmCloseLive: 'This session is still connected. Hang up and close the tab?',
  transcriptTabLabel: '#{id} {target}',

  // Terminal: the local prompt.
  terminalTitle: 'Terminal',
  localPrompt: 'portlab>',
  run: 'Run',
  statusLocal: 'not connected',
  localHint: 'Type telnet lab 25, nc lab 80, ports or help, then Enter.',
  localWelcome: 'portlab terminal. Type "help" for the commands, "ports" for the lab servers.',
  localHelp:
    'telnet HOST [PORT]   connect (telnet mode for port 23, raw for the others)\n' +
    'nc HOST PORT         connect in raw mode: every byte as it is\n' +
    'ports                list the lab servers\n' +
    'clear                clear this window\n' +
    'help                 this text\n' +
    'While connected: Enter sends the line with CR LF; Ctrl-] hangs up.',
  telnetUsage: 'usage: telnet HOST [PORT]   (for example: telnet lab 25)',
  ncUsage: 'usage: nc HOST PORT   (for example: nc lab 80)',
  localUnknown: '{cmd}: command not found. Type "help".',
  portsTitle: 'Lab servers on {host}:',
  portsLine: '{port}  {name}  {cmd}',
  portsUnavailable: 'The list of lab servers has not loaded.',
  quickConnect: 'Connect to',
  quickService: '{name} {port}',

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
  reconnectNow: 'Reconnect now',
  charMode: 'Character mode',
  charModeHelp: 'Send every key as you type it (for a shell over telnet)',
  charLoading: 'Loading the character terminal…',
  charLoadFailed: 'Could not load the character terminal: {message}',
  charOn: 'Character mode: every key goes to the server at once. Ctrl-] does not hang up here; use the button.',
  charTermLabel: 'Character terminal',
  charNotConnected: 'Not connected. Leave character mode to get the prompt back.',
  sendHexTitle: 'Send bytes in hex',
  sendHexLabel: 'Bytes in hex',
  sendHex: 'Send bytes',
  sendHexHint: 'Two hex digits per byte, e.g. 48 45 4c 4f 0d 0a for "HELO" CR LF.',
  sendHexInvalid: 'Use pairs of hex digits (0-9, a-f), separated by spaces if you like.',
  sendHexNotConnected: 'Connect first.',
  statusReconnecting: 'reconnecting to {target}… (next try in {seconds} s)',
  statusReopening: 'taking over {target} again…',
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
  legendAnnotation: 'explanations',
  openDataPort: 'Open {host}:{port}',
  hexView: 'Hex',
  copyConversation: 'Copy',
  copied: 'Copied.',
  copyFailed: 'Copy failed; select the text instead.',

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
  noteResumedFlow: 'Resumed.',
  noteReconnecting: 'The connection to portlab dropped; reconnecting… The server keeps your session for 30 seconds.',
  noteResumed: 'Reconnected: the same session goes on (the server replays what you missed).',
  noteReopening: 'This browser tab had session #{id} to {target} open; taking it over again…',
  noteEarlierOutput: 'Earlier output of this session is not shown here; it is in the recorded transcript:',
  noteSessionEnded: 'This session has ended. Everything sent and received is in its recorded transcript:',
  transcriptLink: 'session #{id}',
  noteTrimmed: '…earlier output trimmed',
  noteTooLong: '…the rest is too long to show here; download the transcript',

  // Close reasons (server codes); unknown codes are shown as they are.
  reasons: {
    remote_closed: 'the server closed the connection',
    idle_timeout: 'nothing was sent for too long',
    session_timeout: 'the session reached its time limit',
    client_closed: 'you hung up',
    server_shutdown: 'portlab is shutting down',
    logged_out: 'you signed out',
    connect_timeout: 'the server did not answer in time',
    connection_lost: 'the connection to portlab was lost',
    connect_failed: 'could not connect',
    client_disconnected: 'the browser was gone too long',
    teacher_ended: 'the teacher ended it',
  },

  // Error codes (REST and WebSocket); unknown codes fall back to the
  // server's message.
  errors: {
    bad_request: 'The request was not understood.',
    unauthorized: 'You are not signed in.',
    target_denied: 'That target is not allowed.',
    connect_failed: 'Could not connect to the server.',
    too_many_sessions: 'You have too many sessions open. Hang up one first.',
    too_many_opens: 'You opened too many sessions in the last minute. Wait a little.',
    message_too_big: 'That was too much to send at once.',
    invalid_name: 'That name is not allowed.',
    bad_class_code: 'That class code is not right.',
    name_taken: 'That name is taken; enter your rejoin code.',
    not_found: 'Not found.',
    network: 'portlab cannot be reached. Check your network.',
    ws_failed: 'Could not open the connection to portlab. Are you still signed in?',
    http: 'The server answered with status {status}.',
    resume_failed: 'The session could not be resumed; the connection is lost.',
    too_many_attempts: 'Too many tries. Wait a little.',
    too_many_joins: 'Too many new names from your network just now. Wait a little.',
    class_full: 'The class is full. Ask your teacher.',
    removed: 'The teacher removed this name from the class.',
    forbidden: 'Only the teacher may do this.',
    fixed: 'This was set when portlab started and cannot change now.',
    bad_rule: 'That rule is not valid.',
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
  transcriptTitle: 'Session #{id}',
  transcriptPageLink: 'Open as page',
  exportsLabel: 'Export',
  downloadTxt: 'Text (.txt)',
  downloadJson: 'JSON',
  downloadCast: 'asciicast (.cast)',
  downloadPcap: 'Wireshark (.pcap)',
  reload: 'Reload',
  replayLabel: 'Replay',
  replayPlay: '▶ Replay',
  replayPause: '❚❚ Pause',
  replayStep: 'Step ▸',
  replayAll: 'Show all',
  speedLabel: 'Speed',
  speedX: '{n}×',
  replayClock: '{now} s of {total} s · event {n} of {count}',
  markersLabel: 'Client commands',
  markersHint: 'Choose one to replay up to it.',
  markerEmptyLine: '(empty line)',

  // Key bar for character mode on phones.
  keys: {
    bar: 'Special keys',
    ctrl: 'Ctrl',
    ctrlLabel: 'Control: hold for the next key',
    esc: 'Esc',
    escLabel: 'Escape',
    tab: 'Tab',
    tabLabel: 'Tab',
    left: '←',
    leftLabel: 'Arrow left',
    up: '↑',
    upLabel: 'Arrow up',
    down: '↓',
    downLabel: 'Arrow down',
    right: '→',
    rightLabel: 'Arrow right',
  },

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
