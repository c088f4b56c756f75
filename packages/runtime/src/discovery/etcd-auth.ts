import { readFileSync } from "node:fs";
import type { IOptions } from "etcd3";
import type { EtcdAuth } from "../plane-security.js";

/** The etcd3 client options for `auth`: user/password, and TLS with a CA and optionally a client certificate. */
export function etcdClientAuth(auth: EtcdAuth | undefined): Pick<IOptions, "auth" | "credentials"> {
  const options: Pick<IOptions, "auth" | "credentials"> = {};
  if (auth?.user !== undefined) options.auth = { username: auth.user, password: auth.password ?? "" };
  if (auth?.caPath !== undefined) {
    options.credentials = {
      rootCertificate: readFileSync(auth.caPath),
      ...(auth.certPath ? { certChain: readFileSync(auth.certPath) } : {}),
      ...(auth.keyPath ? { privateKey: readFileSync(auth.keyPath) } : {}),
    };
  }
  return options;
}
