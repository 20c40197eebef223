// A real subscription client, driven by the Rust end-to-end tests.
//
//   node subscribe.mjs <transport|legacy|sse> <url> <query> <count> <timeout-ms>
//
// Subscribes with the graphql-ws library (graphql-transport-ws), the legacy
// subscriptions-transport-ws client (graphql-ws), or the graphql-sse client (distinct
// connections mode); prints every result as one JSON line; exits 0 once <count> results have
// arrived and nothing more came within a second, 3 if more came, 2 on error or timeout.
import WebSocket from 'ws';
import { createClient as createWsClient } from 'graphql-ws';
import { createClient as createSseClient } from 'graphql-sse';
import transport from 'subscriptions-transport-ws';

const [protocol, url, query, countText, timeoutText] = process.argv.slice(2);
const expected = Number(countText);
const received = [];
let dispose = () => {};

const finish = (code, message) => {
  if (message) console.error(message);
  try { dispose(); } catch { /* closing anyway */ }
  process.exit(code);
};
setTimeout(() => finish(2, `timed out with ${received.length} of ${expected} results`), Number(timeoutText));

const sink = {
  next(result) {
    received.push(result);
    console.log(JSON.stringify(result));
    if (received.length === expected) setTimeout(() => finish(0), 1000);
    if (received.length > expected) finish(3, 'more results than expected');
  },
  error(error) { finish(2, `subscription error: ${JSON.stringify(error?.message ?? error)}`); },
  complete() { if (received.length < expected) finish(2, 'completed early'); },
};

if (protocol === 'transport') {
  const client = createWsClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false });
  dispose = client.subscribe({ query }, sink);
} else if (protocol === 'legacy') {
  const client = new transport.SubscriptionClient(url, { reconnect: false }, WebSocket);
  const subscription = client.request({ query }).subscribe(sink);
  dispose = () => { subscription.unsubscribe(); client.close(); };
} else if (protocol === 'sse') {
  const client = createSseClient({ url, retryAttempts: 0 });
  dispose = client.subscribe({ query }, sink);
} else {
  finish(2, `unknown protocol ${protocol}`);
}
