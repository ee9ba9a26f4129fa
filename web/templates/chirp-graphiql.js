// Mounts GraphiQL against this server: queries over HTTP, subscriptions over graphql-transport-ws.
(function () {
  var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  var socketUrl = scheme + "//" + window.location.host + window.location.pathname;
  var fetcher = GraphiQL.createFetcher({
    url: window.location.pathname,
    wsClient: graphqlWs.createClient({ url: socketUrl, lazy: true }),
  });
  var firstQuery =
    "# Sign in with register or login, then set the header\n" +
    '# {"Authorization": "Bearer <token>"}\n\n{\n  viewer {\n    handle\n  }\n}\n';

  function App() {
    var state = React.useState(firstQuery);
    var explorer = GraphiQLPluginExplorer.useExplorerPlugin({ query: state[0], onEdit: state[1] });
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      query: state[0],
      onEditQuery: state[1],
      plugins: [explorer],
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
    });
  }

  ReactDOM.render(React.createElement(App), document.getElementById("graphiql"));
})();
