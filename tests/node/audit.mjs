// GraphQL-over-HTTP conformance: runs the `graphql-http` server audits against a running server.
//
//   node tests/node/audit.mjs http://127.0.0.1:8080/graphql
//
// Prints one line per audit and exits 1 unless every audit (MUST, SHOULD and MAY alike) is `ok`.
// Run by tests/api/conformance.rs; install the pinned packages first with
// `npm ci --prefix tests/node`.

import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <url of the GraphQL endpoint>');
  process.exit(2);
}

// One audit at a time, in a stable order, so the output reads the same on every run.
const results = [];
for (const { fn } of serverAudits({ url })) {
  results.push(await fn());
}

let failed = 0;
for (const result of results) {
  if (result.status === 'ok') {
    console.log(`ok     ${result.id} ${result.name}`);
    continue;
  }
  failed += 1;
  let body = '';
  try {
    body = await result.response.text();
  } catch {
    body = '(body already read)';
  }
  console.log(`${result.status.padEnd(6)} ${result.id} ${result.name}`);
  console.log(`         reason: ${result.reason}`);
  console.log(`         response: ${result.response.status} ${result.response.headers.get('content-type') ?? '(no content-type)'} ${body.slice(0, 300)}`);
}

console.log(`${results.length - failed} of ${results.length} audits ok`);
process.exit(failed === 0 ? 0 : 1);
