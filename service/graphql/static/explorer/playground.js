// Starts GraphQL Playground with the settings in the page's JSON block: a file of its own,
// because the page's CSP runs no inline script.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("explorer-config").textContent);
  var endpoint = new URL(config.endpoint, window.location.href).href;
  window.GraphQLPlayground.init(document.getElementById("explorer"), {
    endpoint: endpoint,
    settings: {
      // Tokens travel in the Authorization header only; the service reads no cookie.
      "request.credentials": "omit",
      // Polling would ask for the whole schema every two seconds; reload the page after a deploy.
      "schema.polling.enable": false,
    },
    tabs: [{ endpoint: endpoint, query: config.query, headers: config.headers }],
  });
})();
