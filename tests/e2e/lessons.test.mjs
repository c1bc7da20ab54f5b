// lessons.test.mjs -- a student does every built-in lesson end to end in
// headless chromium, the way the lessons teach it: questions answered from
// the text, flags found on the lab servers by typing the protocol by hand
// (HTTP Basic auth, an FTP passive data connection in a second tab), and
// every check task earned by really doing it in a session tab. At the end
// the lesson list shows every lesson done, and the teacher's class
// progress lists the student with the full total.
//
// Run: node --test tests/e2e/   (after `npm ci` in tests/e2e)
// Env and shared code: see helpers.mjs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startLab,
  newPage,
  join,
  active,
  typeLine,
  expectConv,
  convText,
  shot,
  answerTask,
  checkTask,
  signInTeacher,
  STEP_MS,
} from './helpers.mjs';

let lab = null;

before(async () => {
  lab = await startLab();
});

after(async () => {
  if (lab) await lab.stop();
});

const FLAG_RE = /FLAG\{[0-9a-f]{24}\}/;

// Opens a lesson from the lesson list, as a student would.
async function openLesson(page, id, title) {
  await page.locator('#nav a[data-nav="lessons"]').click();
  await page.locator(`.lesson-card[data-lesson="${id}"] h2 a`).click();
  await page.waitForFunction((t) => document.querySelector('#lesson-title')?.textContent === t, title);
  await page.waitForSelector('.task-card');
}

// Presses a "session:" button in the lesson text and waits for the
// connection.
async function openFromLesson(page, target) {
  await page.locator(`.lesson-body button.session-link[data-target="${target}"]`).first().click();
  await page.waitForSelector('.tabpanel:not([hidden]) .session[data-status="connected"]');
}

// Closes every tab whose session has ended (no confirmation is asked).
async function closeFinishedTabs(page) {
  for (;;) {
    const done = page.locator('.tab-item:not([data-status="connected"]) .tab-close');
    if ((await done.count()) === 0) return;
    await done.first().click();
  }
}

// The tab whose label ends with label: "lab:21" must not pick "lab:21460",
// a passive port that happens to start with the same digits.
async function selectTab(page, label) {
  const exact = new RegExp(label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '(?!\\d)');
  await page.locator('[role="tab"]', { hasText: exact }).click();
}

async function expectClosed(page) {
  await expectConv(page, 'Connection closed by foreign host.');
  await page.waitForSelector('.tabpanel:not([hidden]) .session[data-local="true"]');
}

test('a student does every lesson in the browser', { timeout: 300000 }, async (t) => {
  const context = await lab.browser.newContext({ viewport: { width: 1366, height: 768 } });
  const page = await newPage(context);
  const name = 'walk' + Date.now().toString(36).slice(-5);
  let login = null;
  let httpFlag = '';
  let ftpFlag = '';
  let natAddress = '';

  await t.test('join', async () => {
    login = await join(page, lab.base, name);
    assert.equal(login.user, name);
    assert.match(login.password, /^\S{6,}$/);
  });

  await t.test('lesson 1: ports and protocols', async () => {
    await openLesson(page, 'ports', 'Ports and protocols');
    // The mail server speaks first.
    await openFromLesson(page, 'lab:25');
    await expectConv(page, '220 lab ESMTP');
    await typeLine(page, 'QUIT');
    await expectConv(page, '221 2.0.0');
    await expectClosed(page);
    // The web server waits for a request.
    await openFromLesson(page, 'lab:80');
    await typeLine(page, 'HEAD / HTTP/1.1');
    await typeLine(page, 'Host: lab');
    await typeLine(page, '');
    await expectConv(page, 'HTTP/1.1 200 OK');
    await expectConv(page, 'Server: portlab-lab/1.0');
    await shot(page, 'lessons-01-ports');
    await active(page, 'button.danger').click(); // hang up
    await page.waitForSelector('.tabpanel:not([hidden]) .session[data-local="true"]');
    await closeFinishedTabs(page);

    await answerTask(page, 'port-smtp', '25');
    await answerTask(page, 'port-imap', '143');
    await answerTask(page, 'port-https', '443');
    await answerTask(page, 'port-ftp-control', '21');
    await answerTask(page, 'port-mail-submit', '587');
    await answerTask(page, 'port-ephemeral', 'the client');
    await answerTask(page, 'port-zero', '0');
    await answerTask(page, 'port-line-ending', 'CR LF');
    await answerTask(page, 'port-dynamic-range', '49152');
    assert.equal(await page.textContent('.lesson-score'), '11 / 11 points');
  });

  await t.test('lesson 2: telnet', async () => {
    await openLesson(page, 'telnet', 'Telnet and its hidden negotiation');
    await openFromLesson(page, 'lab:23');
    await expectConv(page, 'lab login:');
    await typeLine(page, login.user);
    await expectConv(page, 'Password:');
    // The server took over the echo: the input hides the password.
    await page.waitForSelector('.tabpanel:not([hidden]) .line-input[type="password"]');
    await typeLine(page, login.password);
    await expectConv(page, 'Welcome to the portlab lab machine, ' + login.user + '.');
    assert.ok(!(await convText(page)).includes(login.password), 'the password is never shown');
    await typeLine(page, 'whoami');
    await expectConv(page, login.user + '@lab:~$');
    await typeLine(page, 'ls');
    await expectConv(page, 'notes  welcome.txt');
    await typeLine(page, 'cat welcome.txt');
    await expectConv(page, 'Welcome, ' + login.user + '.');
    await shot(page, 'lessons-02-telnet');
    await typeLine(page, 'exit');
    await expectConv(page, 'logout');
    await expectClosed(page);
    await closeFinishedTabs(page);

    await answerTask(page, 'telnet-iac-value', '255');
    await answerTask(page, 'telnet-will-echo', 'will');
    await answerTask(page, 'telnet-echo-option', '1');
    await checkTask(page, 'telnet-login');
    await answerTask(page, 'telnet-password-echo', '0');
    assert.equal(await page.textContent('.lesson-score'), '7 / 7 points');
  });

  await t.test('lesson 3: HTTP by hand', async () => {
    await openLesson(page, 'http', 'HTTP by hand');
    await openFromLesson(page, 'lab:80');
    const get = async (path, ...headers) => {
      await typeLine(page, 'GET ' + path + ' HTTP/1.1');
      await typeLine(page, 'Host: lab');
      for (const hd of headers) await typeLine(page, hd);
      await typeLine(page, '');
    };
    await get('/robots.txt');
    await expectConv(page, 'Disallow: /flag.html');
    await get('/old-page');
    await expectConv(page, 'Location: /about.html');
    await get('/flag.html');
    await expectConv(page, 'WWW-Authenticate: Basic realm="portlab lab"');
    // base64 of user:password, as btoa() in the console gives it.
    const basic = await page.evaluate(([u, p]) => btoa(u + ':' + p), [login.user, login.password]);
    await get('/flag.html', 'Authorization: Basic ' + basic);
    await expectConv(page, 'You found the hidden page');
    await expectConv(page, FLAG_RE);
    httpFlag = FLAG_RE.exec(await convText(page))[0];
    // A form by hand (Content-Length counts "name=me" only), then OPTIONS.
    await typeLine(page, 'POST /form HTTP/1.1');
    await typeLine(page, 'Host: lab');
    await typeLine(page, 'Content-Type: application/x-www-form-urlencoded');
    await typeLine(page, 'Content-Length: 7');
    await typeLine(page, '');
    await typeLine(page, 'name=me');
    await expectConv(page, '<tr><th>name</th><td>me</td></tr>');
    await typeLine(page, 'OPTIONS /form HTTP/1.1');
    await typeLine(page, 'Host: lab');
    await typeLine(page, '');
    await expectConv(page, 'Allow: GET, HEAD, POST, OPTIONS');
    // HTTP/1.1 without Host: 400, and the server hangs up.
    await typeLine(page, 'GET / HTTP/1.1');
    await typeLine(page, '');
    await expectConv(page, 'HTTP/1.1 400 Bad Request');
    await shot(page, 'lessons-03-http');
    await expectClosed(page);
    await closeFinishedTabs(page);
    // The WebSocket handshake by hand; a typed line is no frame: close 1002.
    await openFromLesson(page, 'lab:80');
    for (const line of ['GET /chat HTTP/1.1', 'Host: lab', 'Upgrade: websocket', 'Connection: Upgrade',
      'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', '']) {
      await typeLine(page, line);
    }
    await expectConv(page, 'HTTP/1.1 101 Switching Protocols');
    await expectConv(page, 'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    await typeLine(page, 'hello');
    await expectClosed(page);
    await closeFinishedTabs(page);

    await answerTask(page, 'http-missing-host', '400');
    await answerTask(page, 'http-body-length', 'content-length');
    await answerTask(page, 'http-redirect-header', 'Location');
    await checkTask(page, 'http-robots');
    await checkTask(page, 'http-flag-page');
    await answerTask(page, 'http-flag', httpFlag);
    // The HEAD / from lesson 1 already counts: the check looks at what
    // the lab server answered, whichever lesson was open, so the lesson
    // opens with it solved.
    await page.waitForSelector('.task-card[data-task="http-head"][data-solved="true"]');
    await answerTask(page, 'http-head-body', '0');
    await checkTask(page, 'http-form-post');
    await answerTask(page, 'http-form-411', '411');
    await answerTask(page, 'http-options-form', 'GET, HEAD, POST, OPTIONS');
    await checkTask(page, 'http-chat-101');
    await answerTask(page, 'http-chat-accept', 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    assert.equal(await page.textContent('.lesson-score'), '18 / 18 points');
  });

  await t.test('lesson 4: FTP and its two channels', async () => {
    await openLesson(page, 'ftp', 'FTP and its two channels');
    await openFromLesson(page, 'lab:21');
    await expectConv(page, '220 (portlab FTP)');
    await typeLine(page, 'USER ' + login.user);
    await expectConv(page, '331 ');
    await typeLine(page, 'PASS ' + login.password);
    await expectConv(page, '230 Logged in as ' + login.user + '.');

    // Download: PASV, work out the port by hand, telnet to it in a new
    // tab, then RETR in the control tab.
    await typeLine(page, 'PASV');
    await expectConv(page, /227 Entering Passive Mode \(\d+,\d+,\d+,\d+,\d+,\d+\)/);
    let m = [...(await convText(page)).matchAll(/\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/g)].pop();
    const port1 = Number(m[5]) * 256 + Number(m[6]);
    await page.locator('.tab-new').click();
    await typeLine(page, 'telnet lab ' + port1);
    await page.waitForSelector('.tabpanel:not([hidden]) .session[data-status="connected"]');
    await selectTab(page, 'lab:21');
    await typeLine(page, 'RETR /notes/ftp-flag.txt');
    await expectConv(page, '226 Transfer complete');
    await selectTab(page, 'lab:' + port1);
    await expectConv(page, FLAG_RE);
    ftpFlag = FLAG_RE.exec(await convText(page))[0];
    await expectClosed(page);
    await shot(page, 'lessons-04-ftp-data');
    await closeFinishedTabs(page);

    // Upload: PASV, the 227's "Open" button for the data tab, STOR, type
    // the file there and close that tab to end the file.
    await selectTab(page, 'lab:21');
    await typeLine(page, 'PASV');
    await page.waitForFunction(
      () => document.querySelectorAll('.tabpanel:not([hidden]) .conv .ann-open').length >= 2,
    );
    m = [...(await convText(page)).matchAll(/\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/g)].pop();
    const port2 = Number(m[5]) * 256 + Number(m[6]);
    await active(page, `.conv .ann-open[data-target="lab:${port2}"]`).click();
    await page.waitForSelector('.tabpanel:not([hidden]) .session[data-status="connected"]');
    await selectTab(page, 'lab:21');
    await typeLine(page, 'STOR hello.txt');
    await expectConv(page, '150 Ready for /hello.txt');
    // The data tab is named for what it carries.
    await selectTab(page, 'ftp-data · STOR hello.txt');
    await typeLine(page, 'Hello from ' + login.user);
    await typeLine(page, 'typed into the data connection');
    page.once('dialog', (d) => d.accept());
    await page.locator('.tab-item.active .tab-close').click();
    await selectTab(page, 'lab:21');
    await expectConv(page, /226 Transfer complete: \d+ bytes stored in \/hello\.txt/);
    await shot(page, 'lessons-04-ftp-control');
    await typeLine(page, 'SYST');
    await expectConv(page, '215 UNIX Type: L8');
    await typeLine(page, 'STAT');
    await expectConv(page, '211 End of status.');
    await typeLine(page, 'EPSV');
    await expectConv(page, /229 Entering Extended Passive Mode \(\|\|\|\d+\|\)/);
    await typeLine(page, 'MKD drafts');
    await expectConv(page, '257 "/drafts" created.');
    await typeLine(page, 'RMD drafts');
    await expectConv(page, '250 Directory /drafts removed.');
    await typeLine(page, 'QUIT');
    await expectClosed(page);
    await closeFinishedTabs(page);

    // The anonymous public area, listed over the control connection.
    await openFromLesson(page, 'lab:21');
    await expectConv(page, '220 (portlab FTP)');
    await typeLine(page, 'USER anonymous');
    await expectConv(page, '331 Anonymous login');
    await typeLine(page, 'PASS guest@example.com');
    await expectConv(page, '230 Logged in anonymously');
    await typeLine(page, 'STAT /pub');
    await expectConv(page, '213 End of status.');
    assert.match(await convText(page), /about-ftp\.txt/);
    await typeLine(page, 'MKD uploads');
    await expectConv(page, '550 Permission denied');
    await typeLine(page, 'QUIT');
    await expectClosed(page);
    await closeFinishedTabs(page);

    await answerTask(page, 'ftp-pasv-port', '30035');
    await answerTask(page, 'ftp-bounce', 'PORT');
    await answerTask(page, 'ftp-transfer-done', '226');
    await answerTask(page, 'ftp-binary-type', 'TYPE I');
    await checkTask(page, 'ftp-retr');
    await checkTask(page, 'ftp-stor');
    await answerTask(page, 'ftp-flag', ftpFlag);
    await answerTask(page, 'ftp-syst', '215');
    await answerTask(page, 'ftp-anon-pub', 'about-ftp.txt');
    await answerTask(page, 'ftp-mkd-code', '257');
    await answerTask(page, 'ftp-epsv-code', '229');
    await answerTask(page, 'ftp-stat-code', '211');
    assert.equal(await page.textContent('.lesson-score'), '18 / 18 points');
  });

  await t.test('lesson 5: SMTP', async () => {
    await openLesson(page, 'smtp', 'Sending mail by hand (SMTP)');
    await openFromLesson(page, 'lab:25');
    await expectConv(page, '220 lab ESMTP');
    await typeLine(page, 'EHLO workstation');
    await expectConv(page, '250 HELP');
    // The server sees the relay's address, as behind a NAT router.
    natAddress = /Hello workstation \[([^\]]+)\]/.exec(await convText(page))[1];
    await typeLine(page, 'VRFY nobody@lab');
    await expectConv(page, '550 5.1.1 <nobody@lab>: No such user here');
    await typeLine(page, 'EXPN staff');
    await expectConv(page, '502 5.5.1');
    await typeLine(page, 'MAIL FROM:<' + login.user + '@lab>');
    await expectConv(page, '250 2.1.0');
    await typeLine(page, 'RSET');
    await expectConv(page, '250 2.0.0 OK, transaction reset');
    await typeLine(page, 'RCPT TO:<demo@lab>');
    await expectConv(page, '503 5.5.1 Bad sequence of commands: send MAIL FROM first');
    // DATA before any RCPT: a bad sequence.
    await typeLine(page, 'DATA');
    await expectConv(page, /503 5\.5\.1[\s\S]*503 5\.5\.1/); // the second 503
    await typeLine(page, 'MAIL FROM:<' + login.user + '@lab>');
    await expectConv(page, '250 2.1.0 Sender <' + login.user + '@lab> OK');
    // No relaying to the outside world.
    await typeLine(page, 'RCPT TO:<someone@example.com>');
    await expectConv(page, '550 5.7.1 <someone@example.com>: Relay access denied');
    await typeLine(page, 'RCPT TO:<demo@lab>');
    await expectConv(page, 'Recipient <demo@lab> OK');
    await typeLine(page, 'RCPT TO:<' + login.user + '@lab>');
    await expectConv(page, 'Recipient <' + login.user + '@lab> OK');
    await typeLine(page, 'DATA');
    await expectConv(page, '354 ');
    for (const line of [
      'From: ' + login.user + '@lab',
      'To: demo@lab',
      'Subject: Hello from the lab',
      '',
      'Hi! I typed this one by hand.',
      '.',
    ]) {
      await typeLine(page, line);
    }
    await expectConv(page, '250 2.0.0 Message accepted for delivery');
    await typeLine(page, 'QUIT');
    await expectConv(page, '221 2.0.0 lab Bye');
    await shot(page, 'lessons-05-smtp');
    await expectClosed(page);
    await closeFinishedTabs(page);

    await answerTask(page, 'smtp-greeting', '220');
    await answerTask(page, 'smtp-data-reply', '354');
    await answerTask(page, 'smtp-end-line', '.');
    await answerTask(page, 'smtp-4xx', 'temporary');
    await answerTask(page, 'smtp-relay-code', '5.7.1');
    await checkTask(page, 'smtp-deliver-demo');
    await answerTask(page, 'smtp-vrfy-unknown', '550');
    await answerTask(page, 'smtp-expn', '502');
    await answerTask(page, 'smtp-rset', '503');
    await answerTask(page, 'smtp-submission-port', '587');
    assert.equal(await page.textContent('.lesson-score'), '13 / 13 points');
  });

  await t.test('lesson 6: POP3 and IMAP', async () => {
    await openLesson(page, 'pop3-imap', 'Reading mail back (POP3 and IMAP)');
    await openFromLesson(page, 'lab:110');
    await expectConv(page, '+OK portlab POP3');
    await typeLine(page, 'USER ' + login.user);
    await expectConv(page, '+OK Send your password');
    await typeLine(page, 'PASS ' + login.password);
    // Two welcome mails and the copy sent to ourselves in the SMTP lesson.
    await expectConv(page, '+OK Logged in as ' + login.user + ': 3 messages');
    await typeLine(page, 'LIST');
    await expectConv(page, /␊3 \d+␍␊\.␍␊/);
    await typeLine(page, 'RETR 2');
    await expectConv(page, 'Subject: How mail moves: SMTP, POP3 and IMAP');
    await typeLine(page, 'QUIT');
    await expectConv(page, '+OK Bye');
    await expectClosed(page);
    await closeFinishedTabs(page);

    await openFromLesson(page, 'lab:143');
    await expectConv(page, '* OK [CAPABILITY IMAP4rev1');
    await typeLine(page, 'a1 LOGIN ' + login.user + ' ' + login.password);
    await expectConv(page, 'a1 OK');
    await typeLine(page, 'a2 SELECT INBOX');
    await expectConv(page, '* 3 EXISTS');
    await expectConv(page, 'a2 OK [READ-WRITE] SELECT completed');
    await typeLine(page, 'a3 FETCH 3 BODY[]');
    await expectConv(page, 'Hi! I typed this one by hand.');
    await expectConv(page, 'a3 OK FETCH completed');
    await typeLine(page, 'a4 SEARCH FROM ' + login.user);
    await expectConv(page, '* SEARCH 3');
    await typeLine(page, 'b1 LIST "" "*"');
    await expectConv(page, '* LIST (\\HasNoChildren) "/" INBOX');
    await typeLine(page, 'b2 EXAMINE INBOX');
    await expectConv(page, 'b2 OK [READ-ONLY] EXAMINE completed');
    await typeLine(page, 'b3 SELECT INBOX');
    await expectConv(page, 'b3 OK [READ-WRITE]');
    await typeLine(page, 'b4 CREATE Archive');
    await expectConv(page, 'b4 OK CREATE completed');
    await typeLine(page, 'b5 COPY 1 Archive');
    await expectConv(page, 'b5 OK [COPYUID');
    await typeLine(page, 'b6 MOVE 2 Archive');
    await expectConv(page, '* 2 EXPUNGE');
    await expectConv(page, 'b6 OK MOVE completed');
    await typeLine(page, 'a5 LOGOUT');
    await expectConv(page, '* BYE');
    await shot(page, 'lessons-06-imap');
    await expectClosed(page);
    await closeFinishedTabs(page);

    await checkTask(page, 'pop3-retr-2');
    await checkTask(page, 'imap-fetch');
    await answerTask(page, 'pop3-port', '110');
    await answerTask(page, 'imap-port', '143');
    await answerTask(page, 'imap-exists', '5');
    await answerTask(page, 'imap-tag', 'x7');
    await answerTask(page, 'pop3-dele-when', 'QUIT');
    await answerTask(page, 'imap-examine', 'READ-ONLY');
    await answerTask(page, 'imap-list-delimiter', '/');
    await answerTask(page, 'imap-move-expunge', 'EXPUNGE');
    await answerTask(page, 'imap-peek', 'BODY.PEEK[]');
    assert.equal(await page.textContent('.lesson-score'), '16 / 16 points');
  });

  await t.test('lesson 7: cleartext', async () => {
    // The Telnet transcript from lesson 2, read like an eavesdropper: the
    // password is there, in the client's (red) bytes.
    await page.locator('#nav a[data-nav="lab"]').click();
    const item = page.locator('.session-list li', { hasText: /lab:23(?!\d)/ }).first();
    await item.locator('button, a').first().click();
    await page.waitForSelector('.tabpanel:not([hidden]) .transcript .marker');
    await page.locator('.tabpanel:not([hidden]) button:has-text("Show all")').click();
    await expectConv(page, login.password);
    const red = await active(page, '.conv .seg.c2s').allTextContents();
    assert.ok(red.some((s) => s.includes(login.password)), 'the password in a client (red) segment');
    const blue = await active(page, '.conv .seg.s2c').allTextContents();
    assert.ok(!blue.some((s) => s.includes(login.password)), 'the server never echoed it');
    await shot(page, 'lessons-07-telnet-transcript');
    await page.locator('.tab-item.active .tab-close').click();

    await openLesson(page, 'cleartext', 'Cleartext and what an eavesdropper sees');
    const plain = await page.evaluate(() => atob('AGNhcm9sAHRyMG1ib25lLTc3').split('\0').pop());
    await answerTask(page, 'cleartext-decode-plain', plain);
    await answerTask(page, 'cleartext-telnet-color', 'red');
    await answerTask(page, 'cleartext-pop3s', '995');
    await answerTask(page, 'cleartext-imaps', '993');
    await answerTask(page, 'cleartext-ssh', '22');
    await answerTask(page, 'cleartext-starttls', 'the TLS handshake');
    await answerTask(page, 'cleartext-ftps', '990');
    await answerTask(page, 'cleartext-lab-starttls', '220');
    await answerTask(page, 'cleartext-tls-app-record', '23');
    await answerTask(page, 'cleartext-tls-keylog', 'CLIENT_TRAFFIC_SECRET_0');
    assert.equal(await page.textContent('.lesson-score'), '14 / 14 points');
  });

  await t.test('lesson 8: under the hood', async () => {
    await openLesson(page, 'under-the-hood', 'Under the hood: handshakes, UDP, addresses and tunnels');
    await answerTask(page, 'hood-synack', 'SYN-ACK');
    await answerTask(page, 'hood-first-fin', 'the server');
    await answerTask(page, 'hood-synack-ack', '1001');
    await answerTask(page, 'hood-dora', 'Request');
    await answerTask(page, 'hood-dhcp-server-port', '67');
    await answerTask(page, 'hood-dhcp-t1', '12');
    await answerTask(page, 'hood-dns-udp', 'UDP');
    await answerTask(page, 'hood-arp', 'ARP');
    await answerTask(page, 'hood-ttl', 'time exceeded');
    await answerTask(page, 'hood-nat', natAddress);
    await answerTask(page, 'hood-msa-port', '587');
    await answerTask(page, 'hood-mta', 'MTA');
    await answerTask(page, 'hood-ssh-socks', '-D');
    await answerTask(page, 'hood-sftp-port', '22');
    await answerTask(page, 'hood-encapsulation', 'TCP');
    await answerTask(page, 'hood-osi-layers', '7');
    await answerTask(page, 'hood-gateway', 'the default gateway');
    await answerTask(page, 'hood-websocket-101', '101');
    await answerTask(page, 'hood-whois', '43');
    await answerTask(page, 'hood-ca', 'certificate authority');
    await answerTask(page, 'hood-vpn', 'only the encrypted tunnel');
    await answerTask(page, 'hood-cap-dhcp-offer', '192.168.1.100');
    await answerTask(page, 'hood-cap-dhcp-lease', '86400, 43200');
    await answerTask(page, 'hood-cap-dns-answer', '203.0.113.10, 3600');
    await answerTask(page, 'hood-cap-arp-mac', '00:1E:58:AA:BB:01');
    await answerTask(page, 'hood-cap-echo-ttl', '52');
    await answerTask(page, 'hood-cap-hop2', '198.51.100.1');
    assert.equal(await page.textContent('.lesson-score'), '29 / 29 points');
  });

  await t.test('lesson 9: SSH, DNS, WHOIS and finger', async () => {
    await openLesson(page, 'more-servers', 'Four more doors: SSH, DNS, WHOIS and finger');
    // SSH: the server's line, ours, and its KEXINIT.
    await openFromLesson(page, 'lab:22');
    await expectConv(page, 'SSH-2.0-portlab_lab teaching server');
    await typeLine(page, 'SSH-2.0-Walker_1.0');
    await expectConv(page, 'curve25519-sha256');
    await checkTask(page, 'ssh-ident');
    await answerTask(page, 'ssh-server-software', 'portlab_lab');
    await answerTask(page, 'ssh-kexinit-number', '20');
    await active(page, 'button.danger').click(); // hang up
    await page.waitForSelector('.tabpanel:not([hidden]) .session[data-local="true"]');
    await closeFinishedTabs(page);
    // DNS: the builder writes the query into the hex sender.
    await openFromLesson(page, 'lab:53');
    const builder = active(page, '.dns-builder');
    await builder.waitFor();
    await builder.locator('.dns-name').fill('lab');
    await builder.locator('.dns-type').selectOption('MX');
    await builder.locator('.dns-fill').click();
    assert.equal(
      await active(page, '.hex-input').inputValue(),
      '00 15 ab cd 01 00 00 01 00 00 00 00 00 00 03 6c 61 62 00 00 0f 00 01',
    );
    await active(page, '.hex-form button[type="submit"]').click();
    await expectConv(page, 'mail');
    await checkTask(page, 'dns-mx-query');
    await answerTask(page, 'dns-mx-host', 'mail.lab.');
    await builder.locator('.dns-name').fill('flag.lab.');
    await builder.locator('.dns-type').selectOption('TXT');
    await builder.locator('.dns-fill').click();
    await active(page, '.hex-form button[type="submit"]').click();
    await expectConv(page, FLAG_RE);
    const dnsFlag = FLAG_RE.exec(await convText(page))[0];
    await answerTask(page, 'dns-flag', dnsFlag);
    await answerTask(page, 'dns-tcp-length', '2');
    await answerTask(page, 'dns-nxdomain', 'NXDOMAIN');
    await shot(page, 'lessons-12-dns-builder');
    await active(page, 'button.danger').click();
    await page.waitForSelector('.tabpanel:not([hidden]) .session[data-local="true"]');
    await closeFinishedTabs(page);
    // WHOIS and finger: one line, one answer, then the server hangs up.
    await openFromLesson(page, 'lab:43');
    await typeLine(page, 'lab');
    await expectConv(page, 'Domain Name: LAB');
    await expectClosed(page);
    await checkTask(page, 'whois-lab');
    await closeFinishedTabs(page);
    await openFromLesson(page, 'lab:79');
    await typeLine(page, 'demo');
    await expectConv(page, 'Shell: /bin/labsh');
    await expectClosed(page);
    await answerTask(page, 'finger-shell', '/bin/labsh');
    await closeFinishedTabs(page);
    assert.equal(await page.textContent('.lesson-score'), '14 / 14 points');
  });

  await t.test('the lesson list shows every lesson done', async () => {
    await page.locator('#nav a[data-nav="lessons"]').click();
    await page.waitForSelector('.lesson-card');
    const cards = page.locator('.lesson-card');
    assert.equal(await cards.count(), 9);
    for (let i = 0; i < 9; i++) {
      const stats = await cards.nth(i).locator('.lesson-stats').textContent();
      const [, solved, tasks] = /(\d+) of (\d+) tasks solved/.exec(stats);
      const [, score, points] = /(\d+) \/ (\d+) points/.exec(stats);
      assert.equal(solved, tasks, stats);
      assert.equal(score, points, stats);
      await cards.nth(i).locator('.badge.ok').waitFor();
    }
    assert.equal(await page.textContent('.lesson-total'), 'Your score so far: 140 of 140 points.');
    await shot(page, 'lessons-08-all-done', { fullPage: true });
  });

  await t.test('a lesson with a session on a projector and on a phone', async () => {
    await openLesson(page, 'smtp', 'Sending mail by hand (SMTP)');
    await openFromLesson(page, 'lab:25');
    await expectConv(page, '220 lab ESMTP');
    await typeLine(page, 'EHLO projector');
    await expectConv(page, '250 HELP');
    // 1920x1080 with the large text a projector needs.
    await page.setViewportSize({ width: 1920, height: 1080 });
    await page.click('#large-toggle');
    assert.equal(await page.getAttribute('#large-toggle', 'aria-pressed'), 'true');
    await shot(page, 'lessons-10-projector-large');
    // A phone, large text still on: nothing wider than the screen, and room
    // to type a line.
    await page.setViewportSize({ width: 390, height: 844 });
    await active(page, '.line-input').scrollIntoViewIfNeeded();
    const layout = await page.evaluate(() => ({
      scroll: document.scrollingElement.scrollWidth,
      input: document.querySelector('.tabpanel:not([hidden]) .line-input').getBoundingClientRect().width,
    }));
    assert.ok(layout.scroll <= 390, 'no sideways scrolling: ' + layout.scroll);
    assert.ok(layout.input >= 150, 'the line input is wide enough: ' + layout.input);
    await typeLine(page, 'QUIT');
    await expectClosed(page);
    await shot(page, 'lessons-11-phone-large');
    await page.click('#large-toggle');
    await page.setViewportSize({ width: 1366, height: 768 });
  });

  assert.deepEqual(page.errors, [], 'no script or console errors');
  await context.close();

  await t.test("the teacher's progress lists the student with the total", async () => {
    const tctx = await lab.browser.newContext({ viewport: { width: 1366, height: 768 } });
    const tp = await newPage(tctx);
    await signInTeacher(tp, lab.base);
    const row = tp.locator('.gradebook-table tbody tr', { hasText: name });
    await row.waitFor();
    assert.equal(await row.locator('td.total').textContent(), '140');
    assert.equal(await row.locator('td.score.full').count(), 9);
    await shot(tp, 'lessons-09-teacher');
    assert.deepEqual(tp.errors, [], 'no script or console errors');
    await tctx.close();
  });
});
