// A throw-away PKI for TLS tests, made with the openssl CLI: one CA, a server certificate for 127.0.0.1 and
// localhost, and a client certificate, all signed by the CA.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestPki {
  readonly dir: string;
  readonly caPath: string;
  readonly serverCertPath: string;
  readonly serverKeyPath: string;
  readonly clientCertPath: string;
  readonly clientKeyPath: string;
  /** Removes the files. */
  remove(): void;
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

function openssl(args: string[]): void {
  try {
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (error) {
    throw new Error(`openssl ${args[0]} failed (is the openssl CLI installed?): ${String(error)}`);
  }
}

/** Creates the CA and the two certificates in a new temporary directory. */
export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "kvasir-pki-"));
  const path = (name: string) => join(dir, name);
  openssl([
    "req",
    "-x509",
    ...EC,
    "-days",
    "1",
    "-subj",
    "/CN=kvasir test CA",
    "-keyout",
    path("ca.key"),
    "-out",
    path("ca.pem"),
  ]);
  const sign = (name: string, subject: string, extensions: string) => {
    writeFileSync(path(`${name}.ext`), extensions);
    openssl([
      "req",
      "-new",
      ...EC,
      "-subj",
      subject,
      "-keyout",
      path(`${name}.key`),
      "-out",
      path(`${name}.csr`),
    ]);
    openssl([
      "x509",
      "-req",
      "-in",
      path(`${name}.csr`),
      "-CA",
      path("ca.pem"),
      "-CAkey",
      path("ca.key"),
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      path(`${name}.ext`),
      "-out",
      path(`${name}.pem`),
    ]);
  };
  sign(
    "server",
    "/CN=127.0.0.1",
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
  );
  sign("client", "/CN=kvasir client", "extendedKeyUsage=clientAuth\n");
  return {
    dir,
    caPath: path("ca.pem"),
    serverCertPath: path("server.pem"),
    serverKeyPath: path("server.key"),
    clientCertPath: path("client.pem"),
    clientKeyPath: path("client.key"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
