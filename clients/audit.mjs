// The GraphQL over HTTP audit (graphql-http's auditServer) of a running server:
//
//   node audit.mjs <graphql-url>
//
// prints every result as JSON (failed ones with the response that failed) and exits 1 on any
// error, any notice, or any warning other than the documented ones below.

import { auditServer } from "graphql-http";

// The spec suggests 200 for errors answered as application/json; the old service answered 400
// to a document that does not parse or validate or whose variables do not coerce, and its
// clients rely on it (README, "The two media types").
export const DOCUMENTED_WARNINGS = {
  "572B": "400, not 200, when an application/json document does not parse",
  FDE2: "400, not 200, when an application/json document does not validate",
  "7B9B": "400, not 200, when application/json variables do not coerce",
};

async function describe(result) {
  if (result.status === "ok") {
    return { id: result.id, name: result.name, status: result.status };
  }
  let body;
  try {
    body = await result.response.text();
  } catch (error) {
    body = `(body not readable: ${error})`;
  }
  return {
    id: result.id,
    name: result.name,
    status: result.status,
    reason: result.reason,
    documented: result.status === "warn" && result.id in DOCUMENTED_WARNINGS,
    response: {
      status: result.response.status,
      contentType: result.response.headers.get("content-type"),
      body: body.slice(0, 500),
    },
  };
}

const url = process.argv[2];
if (!url) {
  process.stderr.write("usage: node audit.mjs <graphql-url>\n");
  process.exit(2);
}
const results = await Promise.all((await auditServer({ url })).map(describe));
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
for (const result of results) {
  counts[result.status] += 1;
}
const failures = results.filter((result) => result.status !== "ok" && !result.documented);
process.stdout.write(`${JSON.stringify({ counts, failures: failures.length, results }, null, 2)}\n`);
process.exitCode = failures.length ? 1 : 0;
