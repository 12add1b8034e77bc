// Sends a body larger than eventd accepts the way Node's http module sends
// any body with a Content-Length and no "Expect: 100-continue": all of it.
// It reads the answer only once the whole body is sent, as a client whose
// event loop is busy meanwhile does (its socket is paused until then), so
// that the outcome does not depend on how fast the machine is. Prints the
// answer; exits 0 if it was a readable 413 in Anchor's error shape, 1
// otherwise (a reset, for one).
import http from 'node:http';
import assert from 'node:assert/strict';

const size = Number(process.env.BODY_BYTES);
const url = new URL('/v1/events/big', process.env.EVENTD_URL);
const body = Buffer.alloc(size, 'x');

const answer = await new Promise((resolve, reject) => {
  const req = http.request(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Content-Length': size, 'anchor-api-key': 'k' },
  });
  req.on('response', (res) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk) => { text += chunk; });
    res.on('end', () => resolve({ status: res.statusCode, text }));
    res.on('error', reject);
  });
  req.on('error', reject);
  req.on('socket', (socket) => {
    socket.pause(); // read nothing until the body is sent
    req.on('finish', () => socket.resume());
  });
  req.end(body);
}).catch((err) => {
  console.log(`no answer: ${err.code ?? ''} ${err.message}`);
  process.exit(1);
});

console.log(`${answer.status} ${answer.text.trim()}`);
assert.equal(answer.status, 413);
assert.equal(JSON.parse(answer.text).error.code, 413);
