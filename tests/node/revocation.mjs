// A client that stays connected with an operator token, driven by the Rust end-to-end tests
// (tests/api/revocation.rs).
//
//   node revocation.mjs <transport|legacy|sse> <url> <token> <timeout-ms>
//
// Connects with `Authorization: Bearer <token>` (in connection_init for WebSockets, as a header
// for SSE), runs an operator read (`auditLog`) and keeps a subscription (`dataChanged`) open;
// runs the read again on each line `again` read from stdin. Prints every event as one JSON line:
// {"event":"result"|"error"|"complete","op":"read"|"subscription",...} and, for WebSockets,
// {"event":"closed","code":…,"reason":…}. Exits 0 once the connection is closed (WebSocket) or
// the subscription is complete (SSE), 2 at the timeout.
import readline from 'node:readline';
import WebSocket from 'ws';
import { createClient as createWsClient } from 'graphql-ws';
import { createClient as createSseClient } from 'graphql-sse';
import transport from 'subscriptions-transport-ws';

const [protocol, url, token, timeoutText] = process.argv.slice(2);
const authorization = `Bearer ${token}`;
const READ = '{ auditLog(first: 1) { totalCount } }';
const SUBSCRIPTION = 'subscription { dataChanged { version } }';

const print = (event) => console.log(JSON.stringify(event));
const finish = (code) => setTimeout(() => process.exit(code), 200);
setTimeout(() => { print({ event: 'timeout' }); process.exit(2); }, Number(timeoutText));

const sink = (op, onComplete = () => {}) => ({
  next: (result) => print({ event: 'result', op, result }),
  error: (error) => print({ event: 'error', op, error: error?.message ?? error?.code ?? error }),
  complete: () => { print({ event: 'complete', op }); onComplete(); },
});

let read;
if (protocol === 'transport') {
  const client = createWsClient({
    url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false,
    connectionParams: { Authorization: authorization },
    on: { closed: (e) => { print({ event: 'closed', code: e.code, reason: e.reason }); finish(0); } },
  });
  read = () => client.subscribe({ query: READ }, sink('read'));
  client.subscribe({ query: SUBSCRIPTION }, sink('subscription'));
} else if (protocol === 'legacy') {
  const client = new transport.SubscriptionClient(
    url, { reconnect: false, connectionParams: { Authorization: authorization } }, WebSocket);
  client.client.on('close', (code, reason) => {
    print({ event: 'closed', code, reason: reason.toString() });
    finish(0);
  });
  read = () => client.request({ query: READ }).subscribe(sink('read'));
  client.request({ query: SUBSCRIPTION }).subscribe(sink('subscription'));
} else if (protocol === 'sse') {
  const client = createSseClient({ url, retryAttempts: 0, headers: { Authorization: authorization } });
  read = () => client.subscribe({ query: READ }, sink('read'));
  client.subscribe({ query: SUBSCRIPTION }, sink('subscription', () => finish(0)));
} else {
  print({ event: 'error', op: 'start', error: `unknown protocol ${protocol}` });
  process.exit(2);
}
read();
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'again') read();
});
