// s3rver on loopback with one bucket, and the AWS variables that point the SDK at it.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import S3rver from "s3rver";

export interface S3Fixture {
  readonly env: Record<string, string>;
  readonly port: number;
  put(key: string, data: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export async function startS3Fixture(bucket: string): Promise<S3Fixture> {
  const directory = await mkdtemp(join(tmpdir(), "kvasir-s3rver-"));
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  const { port } = await server.run();
  const env = {
    AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}`,
    AWS_REGION: "us-east-1",
    // s3rver's fixed credentials.
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
  };
  const client = new S3Client({
    endpoint: env.AWS_ENDPOINT_URL_S3,
    region: env.AWS_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
  });
  return {
    env,
    port,
    put: async (key, data) => {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: data }));
    },
    close: async () => {
      client.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
