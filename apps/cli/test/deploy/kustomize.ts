// Renders deploy/k8s's kustomizations with the part of kustomize they use: `resources` (files and directories),
// `namespace`, `images` and inline JSON 6902 `patches` with a kind and name (regex) target. Any other key fails
// the render, so a kustomization cannot use a feature this renderer would silently skip. Semantics follow
// kustomize v5 (checked against `kubectl kustomize` output by hand): the namespace goes on every namespaced object
// and on ServiceAccount subjects of role bindings; an image entry matches the name before any tag.
import { readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseAllDocuments } from "yaml";

export type K8sObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> } & Record<string, unknown>;
};

const HANDLED = new Set(["apiVersion", "kind", "resources", "namespace", "images", "patches"]);
const CLUSTER_SCOPED = new Set([
  "Namespace",
  "ClusterRole",
  "ClusterRoleBinding",
  "PersistentVolume",
  "StorageClass",
  "CustomResourceDefinition",
  "PriorityClass",
]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isK8sObject(value: unknown): value is K8sObject {
  return (
    isRecord(value) &&
    typeof value.apiVersion === "string" &&
    typeof value.kind === "string" &&
    isRecord(value.metadata) &&
    typeof value.metadata.name === "string"
  );
}

/** Every document of a YAML file; a syntax error fails with the file's name. */
export function loadYamlFile(path: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(path, "utf8"));
  return docs.map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors.map((e) => e.message).join("; ")}`);
    return doc.toJS();
  });
}

/** The objects `kubectl kustomize dir` would print, for the features listed above. */
export function renderKustomization(dir: string): K8sObject[] {
  const file = join(dir, "kustomization.yaml");
  const [kustomization] = loadYamlFile(file);
  if (!isRecord(kustomization)) throw new Error(`${file} is not a mapping`);
  for (const key of Object.keys(kustomization))
    if (!HANDLED.has(key)) throw new Error(`${file}: '${key}' is not supported by the test renderer`);
  const objects: K8sObject[] = [];
  for (const entry of asArray(kustomization.resources, `${file}: resources`)) {
    if (typeof entry !== "string") throw new Error(`${file}: a resource is not a path`);
    const path = resolve(dir, entry);
    if (statSync(path).isDirectory()) objects.push(...renderKustomization(path));
    else
      for (const doc of loadYamlFile(path)) {
        if (doc === null) continue;
        if (!isK8sObject(doc))
          throw new Error(`${path}: a document without apiVersion, kind and metadata.name`);
        objects.push(doc);
      }
  }
  for (const patch of asArray(kustomization.patches, `${file}: patches`)) applyPatch(objects, patch, file);
  for (const image of asArray(kustomization.images, `${file}: images`)) setImage(objects, image, file);
  if (kustomization.namespace !== undefined) {
    if (typeof kustomization.namespace !== "string") throw new Error(`${file}: namespace is not a string`);
    setNamespace(objects, kustomization.namespace);
  }
  const seen = new Set<string>();
  for (const object of objects) {
    const id = `${object.kind}/${object.metadata.namespace ?? ""}/${object.metadata.name}`;
    if (seen.has(id)) throw new Error(`${dirname(file)}: ${id} is defined twice`);
    seen.add(id);
  }
  return objects;
}

function asArray(value: unknown, what: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new Error(`${what} is not a list`);
  return value;
}

function setNamespace(objects: K8sObject[], namespace: string): void {
  for (const object of objects) {
    if (CLUSTER_SCOPED.has(object.kind)) continue;
    object.metadata.namespace = namespace;
    if (object.kind === "RoleBinding" || object.kind === "ClusterRoleBinding")
      for (const subject of asArray(object.subjects, "subjects"))
        if (isRecord(subject) && subject.kind === "ServiceAccount") subject.namespace = namespace;
  }
}

function setImage(objects: K8sObject[], image: unknown, file: string): void {
  if (!isRecord(image) || typeof image.name !== "string") throw new Error(`${file}: an image without a name`);
  const { name, newName, newTag } = image;
  for (const container of containersOf(objects)) {
    if (typeof container.image !== "string") continue;
    const [ref = "", tag] = container.image.split(":");
    if (ref !== name) continue;
    const nextName = typeof newName === "string" ? newName : ref;
    const nextTag = typeof newTag === "string" ? newTag : tag;
    container.image = nextTag === undefined ? nextName : `${nextName}:${nextTag}`;
  }
}

/** Every container and init container of every pod template (and pod) in `objects`. */
export function containersOf(objects: readonly K8sObject[]): Record<string, unknown>[] {
  return objects.flatMap((object) => {
    const pod = podSpecOf(object);
    if (!pod) return [];
    return [
      ...asArray(pod.containers, "containers"),
      ...asArray(pod.initContainers, "initContainers"),
    ].filter(isRecord);
  });
}

/** The pod spec of a workload (its template's) or of a Pod; undefined for other kinds. */
export function podSpecOf(object: K8sObject): Record<string, unknown> | undefined {
  if (object.kind === "Pod") return isRecord(object.spec) ? object.spec : undefined;
  const spec = isRecord(object.spec) ? object.spec : undefined;
  const jobTemplate = isRecord(spec?.jobTemplate) ? spec.jobTemplate : undefined;
  const template = isRecord(spec?.template)
    ? spec.template
    : isRecord(jobTemplate?.spec) && isRecord(jobTemplate.spec.template)
      ? jobTemplate.spec.template
      : undefined;
  return isRecord(template?.spec) ? template.spec : undefined;
}

function applyPatch(objects: K8sObject[], patch: unknown, file: string): void {
  if (!isRecord(patch) || !isRecord(patch.target) || typeof patch.patch !== "string")
    throw new Error(`${file}: only inline JSON 6902 patches with a target are supported`);
  const { kind, name, ...rest } = patch.target;
  if (Object.keys(rest).length > 0) throw new Error(`${file}: patch targets take kind and name only`);
  const [ops] = parseAllDocuments(patch.patch).map((doc) => doc.toJS());
  if (!Array.isArray(ops)) throw new Error(`${file}: a patch that is not a JSON 6902 list (strategic merge)`);
  // kustomize anchors the target name's regex at both ends.
  const nameMatch = typeof name === "string" ? new RegExp(`^(?:${name})$`) : undefined;
  const targets = objects.filter(
    (object) =>
      (kind === undefined || object.kind === kind) && (!nameMatch || nameMatch.test(object.metadata.name)),
  );
  if (targets.length === 0)
    throw new Error(`${file}: patch target ${String(kind)}/${String(name)} matches nothing`);
  for (const target of targets) for (const op of ops) applyOperation(target, op, file);
}

function applyOperation(target: K8sObject, op: unknown, file: string): void {
  if (!isRecord(op) || typeof op.op !== "string" || typeof op.path !== "string")
    throw new Error(`${file}: a patch operation without op and path`);
  const segments = op.path
    .split("/")
    .slice(1)
    .map((segment) => segment.replaceAll("~1", "/").replaceAll("~0", "~"));
  const last = segments.pop();
  if (last === undefined) throw new Error(`${file}: patch path '${op.path}' is empty`);
  let parent: unknown = target;
  for (const segment of segments) {
    parent = Array.isArray(parent) ? parent[Number(segment)] : isRecord(parent) ? parent[segment] : undefined;
    if (parent === undefined)
      throw new Error(`${file}: patch path '${op.path}' does not exist in ${target.metadata.name}`);
  }
  if (Array.isArray(parent)) {
    const index = last === "-" ? parent.length : Number(last);
    if (!Number.isInteger(index) || index < 0 || index > parent.length)
      throw new Error(`${file}: patch index '${last}' out of range`);
    if (op.op === "add") parent.splice(index, 0, op.value);
    else if (op.op === "replace") parent[index] = op.value;
    else if (op.op === "remove") parent.splice(index, 1);
    else throw new Error(`${file}: patch op '${op.op}' is not supported`);
  } else if (isRecord(parent)) {
    if (op.op === "add" || op.op === "replace") parent[last] = op.value;
    else if (op.op === "remove") delete parent[last];
    else throw new Error(`${file}: patch op '${op.op}' is not supported`);
  } else throw new Error(`${file}: patch path '${op.path}' does not exist in ${target.metadata.name}`);
}
