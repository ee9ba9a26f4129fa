// Runs graphql-http's reference audit of the GraphQL-over-HTTP specification against a URL
// and prints one JSON line per check: {status: "ok" | "warn" | "error", id, name, reason}.
const { auditServer } = require("graphql-http");

(async () => {
  const results = await auditServer({ url: process.argv[2] });
  for (const result of results) {
    const reason = result.status === "ok" ? "" : result.reason;
    console.log(JSON.stringify({ status: result.status, id: result.id, name: result.name, reason }));
  }
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
