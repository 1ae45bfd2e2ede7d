// Validates rendered Kubernetes objects offline, two ways:
//  1. kubernetes-models' precompiled OpenAPI validators (types, enums, int-or-string, required
//     fields) — `new Deployment(obj).validate()`;
//  2. TypeScript's excess-property check: every object is written as a typed object literal and
//     `tsc --noEmit` must accept it, which catches unknown fields (e.g. `readinesProbe`) that the
//     validators let through.
// Usage: node k8s_validate.js OBJECTS.json WORKDIR   (OBJECTS.json: [{"source": "...", "object": {...}}])
// Prints one line per problem and exits 1 if there is any.
"use strict";
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");

function modulePath(apiVersion, kind) {
  if (apiVersion === "monitoring.coreos.com/v1") {
    return `@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`;
  }
  if (!apiVersion.includes("/")) return `kubernetes-models/${apiVersion}/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

const [objectsFile, workDir] = process.argv.slice(2);
const items = JSON.parse(fs.readFileSync(objectsFile, "utf8"));
const problems = [];
const tsLines = [];
const imported = new Map();
items.forEach((item, i) => {
  const obj = item.object;
  const where = `${item.source} ${obj.kind}/${obj.metadata && obj.metadata.name}`;
  const mod = modulePath(obj.apiVersion, obj.kind);
  let Model;
  try {
    Model = require(mod)[obj.kind];
  } catch (e) {
    problems.push(`${where}: no schema for ${obj.apiVersion} ${obj.kind} (${mod})`);
    return;
  }
  try {
    new Model(obj).validate();
  } catch (e) {
    problems.push(`${where}: schema: ${e.message.split("\n").slice(0, 6).join(" | ")}`);
  }
  const alias = `I${obj.kind}_${imported.size}`;
  if (!imported.has(mod)) imported.set(mod, alias);
  tsLines.push(`// ${where}\nexport const o${i}: ${imported.get(mod)} = ${JSON.stringify(obj, null, 2)};`);
});

const header = [...imported.entries()].map(([mod, alias]) => {
  const kind = mod.split("/").pop();
  return `import { I${kind} as ${alias} } from "${mod}";`;
});
fs.mkdirSync(workDir, { recursive: true });
const tsFile = path.join(workDir, "objects.ts");
fs.writeFileSync(tsFile, header.join("\n") + "\n\n" + tsLines.join("\n\n") + "\n");
const tsc = require.resolve("typescript/bin/tsc");
try {
  execFileSync(process.execPath, [tsc, "--noEmit", "--strict", "--skipLibCheck", "--target", "es2020",
    "--module", "commonjs", "--moduleResolution", "node", "--typeRoots", "[]",
    "--baseUrl", path.join(__dirname, "node_modules"), tsFile], { cwd: __dirname, stdio: "pipe", env: { ...process.env, NODE_PATH: path.join(__dirname, "node_modules") } });
} catch (e) {
  const out = (e.stdout || "").toString() + (e.stderr || "").toString();
  for (const line of out.split("\n").filter((l) => l.includes("error TS"))) {
    // Name the object: the line number points into objects.ts, whose comments name each object.
    const m = line.match(/objects\.ts\((\d+),/);
    let owner = "";
    if (m) {
      const src = fs.readFileSync(tsFile, "utf8").split("\n");
      for (let l = Number(m[1]) - 1; l >= 0; l--) if (src[l].startsWith("// ")) { owner = src[l].slice(3); break; }
    }
    problems.push(`${owner}: tsc: ${line.replace(/^.*error TS/, "TS")}`);
  }
  if (!out.includes("error TS")) problems.push(`tsc failed: ${out.slice(0, 500)}`);
}
for (const p of problems) console.log(`FAIL ${p}`);
console.log(`k8s_validate: ${items.length} objects, ${problems.length} problems (kubernetes-models ${require("kubernetes-models/package.json").version}, typescript ${require("typescript/package.json").version})`);
process.exit(problems.length ? 1 : 0);
