// Validates Kubernetes manifests against the OpenAPI schemas of the
// `kubernetes-models` npm package (pinned in package-lock.json), in one
// process for every file: node tests/k8s/validate.mjs FILE...
// Each file may hold several YAML documents (as `kubectl kustomize` prints);
// kustomizations and the ClusterPolicy patch are not API objects and are
// skipped by the caller. Prints one line per problem, "FILE: KIND/NAME: why",
// and exits 1 when there is any, 0 when every object validates.
//
// kubernetes-models carries resource.k8s.io/v1 only. A v1beta1
// ResourceClaimTemplate (Kubernetes 1.32 and 1.33) is validated as the API
// server converts it to v1: each request's device fields move under
// `exactly` (k8s.io/api resource/v1beta1 → v1, the only shape change on the
// way for the fields gpumix writes). A DeviceClass gpumix does not write.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const models = {
  "v1": await import("kubernetes-models/v1"),
  "batch/v1": await import("kubernetes-models/batch/v1"),
  "resource.k8s.io/v1": await import("kubernetes-models/resource.k8s.io/v1"),
};

function asV1(claimTemplate) {
  const t = structuredClone(claimTemplate);
  t.apiVersion = "resource.k8s.io/v1";
  for (const r of t.spec?.spec?.devices?.requests ?? []) {
    const exactly = {};
    for (const k of ["deviceClassName", "selectors", "allocationMode", "count", "adminAccess", "tolerations", "capacity"])
      if (k in r) { exactly[k] = r[k]; delete r[k]; }
    if (r.firstAvailable === undefined) r.exactly = exactly;
  }
  return t;
}

let problems = 0;
let objects = 0;
const kinds = {};
for (const file of process.argv.slice(2)) {
  const docs = parseAllDocuments(readFileSync(file, "utf8"), { version: "1.1" });  // as the API server reads it (go-yaml)
  for (const doc of docs) {
    if (doc.errors.length) { console.log(`${file}: does not parse: ${doc.errors[0].message}`); problems++; continue; }
    let o = doc.toJS();
    if (o === null) continue;
    const where = `${file}: ${o.kind}/${o.metadata?.name}`;
    if (o.apiVersion === "resource.k8s.io/v1beta1" && o.kind === "ResourceClaimTemplate") o = asV1(o);
    const group = models[o.apiVersion];
    const Model = group?.[o.kind];
    if (!Model) { console.log(`${where}: no schema for ${o.apiVersion} ${o.kind}`); problems++; continue; }
    try {
      new Model(o).validate();
      objects++;
      kinds[o.kind] = (kinds[o.kind] ?? 0) + 1;
    } catch (e) {
      console.log(`${where}: ${e.message}`);
      problems++;
    }
  }
}
const counts = Object.entries(kinds).sort().map(([k, n]) => `${k} ${n}`).join(", ");
console.log(`validated ${objects} object(s) (${counts}), ${problems} problem(s)`);
process.exit(problems ? 1 : 0);
