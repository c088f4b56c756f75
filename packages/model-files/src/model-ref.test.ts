import { describe, expect, it } from "vitest";
import { checkFilePath, modelIdOf, parseModelRef, parseSnapshotPath, repoFolderName } from "./model-ref.js";

describe("model references", () => {
  const none = () => false;
  it("reads hub ids, S3 URLs and directories", () => {
    expect(parseModelRef("Qwen/Qwen3-0.6B", none)).toEqual({ kind: "hub", repoId: "Qwen/Qwen3-0.6B" });
    expect(parseModelRef("s3://models/hub/acme/tiny/", none)).toEqual({
      kind: "s3",
      bucket: "models",
      prefix: "hub/acme/tiny",
    });
    expect(parseModelRef("Qwen/Qwen3-0.6B", () => true)).toEqual({ kind: "local", dir: "Qwen/Qwen3-0.6B" });
    expect(() => parseModelRef("/no/such/dir", none)).toThrow(/not a directory/);
    expect(() => parseModelRef("s3:///x", none)).toThrow(/bucket/);
  });

  it("names cache folders as huggingface_hub does and reads them back", () => {
    expect(repoFolderName("Qwen/Qwen3-0.6B")).toBe("models--Qwen--Qwen3-0.6B");
    expect(repoFolderName("s3://models/hub/acme")).toBe("models--s3--models--hub--acme");
    expect(parseSnapshotPath("/c/hub/models--Qwen--Qwen3-0.6B/snapshots/abc123")).toEqual({
      modelId: "Qwen/Qwen3-0.6B",
      revision: "abc123",
    });
    expect(parseSnapshotPath("/c/hub/models--s3--models--hub--acme/snapshots/r1/")).toEqual({
      modelId: "s3://models/hub/acme",
      revision: "r1",
    });
    expect(parseSnapshotPath("/some/dir")).toBeUndefined();
    expect(modelIdOf({ kind: "s3", bucket: "b", prefix: "p/q" })).toBe("s3://b/p/q");
  });

  it("keeps manifest paths inside the snapshot", () => {
    expect(checkFilePath("sub/model.safetensors")).toBe("sub/model.safetensors");
    for (const bad of ["", "/etc/passwd", "../x", "a/../../x", "a//b"])
      expect(() => checkFilePath(bad)).toThrow();
  });
});
