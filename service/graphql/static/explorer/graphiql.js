// Starts GraphiQL with the settings in the page's JSON block: a file of its own,
// because the page's CSP runs no inline script.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("explorer-config").textContent);
  var fetcher = window.GraphiQL.createFetcher({ url: new URL(config.endpoint, window.location.href).href });
  var root = window.ReactDOM.createRoot(document.getElementById("explorer"));
  root.render(
    window.React.createElement(window.GraphiQL, {
      fetcher: fetcher,
      defaultQuery: config.query,
      defaultHeaders: JSON.stringify(config.headers, null, 2),
      // The headers panel starts open, showing where the token goes.
      defaultEditorToolsVisibility: "headers",
      // Tokens are not kept in the browser's storage between visits.
      shouldPersistHeaders: false,
    }),
  );
})();
