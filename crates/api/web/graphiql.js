// GraphiQL, served by techbalance itself: queries and mutations go to this origin's /graphql over
// HTTP, subscriptions over a WebSocket to the same URL (graphql-transport-ws, graphql-ws client).
// `/graphql#query=…&variables=…` opens with that operation in the editor.
"use strict";
(function () {
  const DEFAULT_QUERY = `# techbalance GraphiQL: run with Ctrl-Enter (⌘-Enter).
# Reads are public. Operators: open "Headers" below and add
#   {"Authorization": "Bearer <token>"}
# to run mutations (tokens from \`techbalance token create <name>\`).
{
  compare(metric: "rd_intensity", countries: ["USA", "CHN"]) {
    ratio
    leader { code }
    entries {
      country { code name }
      value
      yearUsed
      observation { source { id } citation recordedAt }
    }
  }
}
`;
  const root = document.getElementById("graphiql");
  try {
    const url = new URL("/graphql", window.location.href);
    const wsUrl = new URL(url);
    wsUrl.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const fetcher = GraphiQL.createFetcher({
      url: url.href,
      wsClient: graphqlWs.createClient({ url: wsUrl.href, lazy: true }),
    });
    const fromHash = new URLSearchParams(window.location.hash.slice(1));
    const props = {
      fetcher,
      defaultQuery: DEFAULT_QUERY,
      defaultEditorToolsVisibility: fromHash.has("variables") ? "variables" : false,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
    };
    if (fromHash.has("query")) props.query = fromHash.get("query");
    if (fromHash.has("variables")) props.variables = fromHash.get("variables");
    ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));
    // A link to another operation on this page (a new #query=…) opens it.
    window.addEventListener("hashchange", () => window.location.reload());
  } catch (error) {
    root.textContent = "GraphiQL could not start: " + error;
    throw error;
  }
})();
