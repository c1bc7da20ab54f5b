// captures.test.mjs -- the canned captures (DHCP, DNS, ARP, ICMP) of the
// "under the hood" lesson, decoded in the page at 1280 px and 375 px: the
// lesson links to them, the packet list reads as Wireshark's does, a packet
// shows its fields, and a field marks its own bytes in the hex dump.
// Screenshots go to tests/artifacts/captures-*.png.
//
// Run: node --test tests/e2e/   (after `npm ci` in tests/e2e)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, newPage, join, shot } from './helpers.mjs';

let lab = null;

before(async () => {
  lab = await startLab();
});

after(async () => {
  if (lab) await lab.stop();
});

// The bytes marked in the dump, as hex text.
async function marked(page) {
  return (await page.locator('.capture-hex .hexbyte.hl').allTextContents()).join(' ');
}

async function field(page, name, layer) {
  const exact = new RegExp('^' + name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + ':');
  const scope = layer
    ? page.locator('.capture-layer', { has: page.locator('h3', { hasText: new RegExp('^' + layer + '$') }) })
    : page;
  const f = scope.locator('.capture-field', { has: page.locator('.capture-name', { hasText: exact }) }).first();
  await f.click();
  assert.equal(await f.getAttribute('aria-pressed'), 'true');
  return (await f.locator('.capture-value').textContent()).trim();
}

for (const [width, height] of [
  [1280, 800],
  [375, 740],
]) {
  test('captures at ' + width + ' px', { timeout: 90000 }, async (t) => {
    const context = await lab.browser.newContext({ viewport: { width, height } });
    const page = await newPage(context);
    await join(page, lab.base, 'cap' + width + Date.now().toString(36).slice(-5));

    await t.test('the lesson links to the DHCP capture; DORA in four packets', async () => {
      await page.goto(lab.base + '#/lesson/under-the-hood');
      await page.locator('a[href="#/capture/dhcp"]').first().click();
      await page.waitForSelector('.capture-row');
      assert.equal(await page.locator('.capture-row').count(), 4);
      const info = await page.locator('.capture-info').allTextContents();
      assert.deepEqual(
        info.map((s) => s.split(' - ')[0]),
        ['DHCP Discover', 'DHCP Offer', 'DHCP Request', 'DHCP ACK'],
      );
      await page.locator('.capture-row[data-no="2"] button').click();
      assert.equal(await field(page, 'Your IP address (yiaddr)'), '192.168.1.100');
      assert.equal(await marked(page), 'c0 a8 01 64'); // 192.168.1.100, the field's 4 bytes
      assert.equal(await field(page, 'Option 51: Lease time'), '86400 s (24 h)');
      assert.equal(await marked(page), '33 04 00 01 51 80'); // code, length, 86400
      assert.equal(await field(page, 'Option 58: Renewal time (T1)'), '43200 s (12 h)');
      assert.equal(await field(page, 'Destination port'), '68');
      const scroll = await page.evaluate(() => document.scrollingElement.scrollWidth);
      assert.ok(scroll <= width, 'no sideways scrolling: ' + scroll);
      await shot(page, 'captures-dhcp-' + width, { fullPage: true });
    });

    await t.test('DNS, ARP and ICMP', async () => {
      await page.goto(lab.base + '#/capture/dns');
      await page.waitForSelector('.capture-row');
      assert.match(await page.locator('.capture-row[data-no="3"] .capture-info').textContent(),
        /^Standard query response 0x1a2b A www\.example\.com A 203\.0\.113\.10$/);
      await page.locator('.capture-row[data-no="3"] button').click();
      assert.equal(await field(page, 'Time to live'), '3600 s (1 h)');
      assert.equal(await marked(page), '00 00 0e 10');

      await page.goto(lab.base + '#/capture/arp');
      await page.waitForSelector('.capture-row');
      assert.equal(await page.locator('.capture-row[data-no="1"] .capture-info').textContent(),
        'Who has 192.168.1.1? Tell 192.168.1.100');
      await page.locator('.capture-row[data-no="2"] button').click();
      assert.equal(await field(page, 'Sender MAC address'), '00:1e:58:aa:bb:01');
      assert.equal(await field(page, 'Opcode'), '2 (reply)');

      await page.goto(lab.base + '#/capture/icmp');
      await page.waitForSelector('.capture-row');
      assert.equal(await page.locator('.capture-row').count(), 6);
      await page.locator('.capture-row[data-no="2"] button').click();
      assert.equal(await field(page, 'Time to live (TTL)'), '52');
      assert.equal(await marked(page), '34');
      await page.locator('.capture-row[data-no="6"] button').click();
      assert.equal(await field(page, 'Source address'), '198.51.100.1');
      assert.match(await field(page, 'Type', 'ICMP'), /^11 \(Time exceeded\)$/);
      await shot(page, 'captures-icmp-' + width, { fullPage: true });
    });

    await t.test('an unknown capture says so', async () => {
      await page.goto(lab.base + '#/capture/nope');
      await page.waitForSelector('.capture-status');
      assert.match(await page.locator('.capture-status').textContent(), /no capture with this name/);
      assert.equal(await page.locator('.capture-row').count(), 0);
    });

    assert.deepEqual(page.errors, []);
    await context.close();
  });
}
