// Drives an eventd at ANCHORBROWSER_BASE_URL with Anchor Browser's official
// SDK, exactly as an application written for the hosted API would. Prints
// one line per check and exits non-zero on the first failure.
import Anchorbrowser from 'anchorbrowser';
import assert from 'node:assert/strict';

const client = new Anchorbrowser({ apiKey: 'sdk-key-one' });
const other = new Anchorbrowser({ apiKey: 'sdk-key-two' });
const suffix = `${process.pid}-${Date.now()}`;
let checks = 0;

async function check(name, fn) {
  await fn();
  checks++;
  console.log(`ok ${checks} - ${name}`);
}

async function status(promise) {
  try {
    await promise;
    return 200;
  } catch (err) {
    if (err instanceof Anchorbrowser.APIError) return err.status;
    throw err;
  }
}

// waiters reads eventd's current number of blocked waiters from /metrics.
async function waiters() {
  const text = await (await fetch(`${client.baseURL}/metrics`)).text();
  return Number(/^eventd_waiters (\d+)/m.exec(text)[1]);
}

await check('wait first, signal later: every waiter gets the data', async () => {
  const name = `mfa_code-${suffix}`;
  const before = await waiters();
  const waits = [1, 2, 3].map(() => client.events.waitFor(name, { timeoutMs: 10000 }));
  const deadline = Date.now() + 10000;
  while ((await waiters()) < before + 3) {
    assert.ok(Date.now() < deadline, 'the three waits never arrived');
    await new Promise((r) => setTimeout(r, 5));
  }
  const res = await client.events.signal(name, { data: { code: '123456' } });
  assert.equal(typeof res.data.status, 'string');
  assert.equal(res.data.woken, 3);
  for (const res of await Promise.all(waits)) {
    assert.deepEqual(res.data, { code: '123456' });
  }
});

await check('signal first, wait later: immediate consumption', async () => {
  const name = `workflow_completed-${suffix}`;
  const res = await client.events.signal(name, { data: { result: 'success', n: 42, nested: { a: [1, 2] } } });
  assert.equal(res.data.retained, true);
  const got = await client.events.waitFor(name, { timeoutMs: 1000 });
  assert.deepEqual(got.data, { result: 'success', n: 42, nested: { a: [1, 2] } });
});

await check('timeout is a 408 APIError', async () => {
  try {
    await client.events.waitFor(`nobody-${suffix}`, { timeoutMs: 50 });
    assert.fail('waitFor resolved');
  } catch (err) {
    assert.ok(err instanceof Anchorbrowser.APIError);
    assert.equal(err.status, 408);
    assert.equal(err.error.error.message, 'Event was not signaled within the specified timeout');
  }
});

await check('default timeout body {} is accepted', async () => {
  const name = `default-${suffix}`;
  await client.events.signal(name, { data: {} });
  const got = await client.events.waitFor(name);
  assert.deepEqual(got.data, {});
});

await check('missing data is a 400 BadRequestError', async () => {
  try {
    await client.events.signal(`x-${suffix}`, {});
    assert.fail('signal resolved');
  } catch (err) {
    assert.ok(err instanceof Anchorbrowser.BadRequestError);
    assert.equal(err.error.error.message, 'Event data is required');
  }
});

await check('names with reserved characters round-trip', async () => {
  const name = `build:finished/α ${suffix}`;
  await client.events.signal(name, { data: { ok: true } });
  const got = await client.events.waitFor(name, { timeoutMs: 1000 });
  assert.deepEqual(got.data, { ok: true });
});

await check('events are scoped to the API key', async () => {
  const name = `scoped-${suffix}`;
  await client.events.signal(name, { data: { owner: 'one' } });
  assert.equal(await status(other.events.waitFor(name, { timeoutMs: 50 })), 408);
  const got = await client.events.waitFor(name, { timeoutMs: 1000 });
  assert.deepEqual(got.data, { owner: 'one' });
});

if (process.env.EXPECT_KEYS === '1') {
  await check('an unknown key is a 401 AuthenticationError', async () => {
    const stranger = new Anchorbrowser({ apiKey: 'not-a-configured-key' });
    try {
      await stranger.events.signal(`x-${suffix}`, { data: {} });
      assert.fail('signal resolved');
    } catch (err) {
      assert.ok(err instanceof Anchorbrowser.AuthenticationError);
      assert.equal(err.error.error.message, 'Invalid API key');
    }
  });
}

console.log(`${checks} passed, 0 failed`);
