import { describe, expect, it } from "vitest";
import { parseEtcdEndpoints } from "./etcd-endpoints.js";

describe("parseEtcdEndpoints", () => {
  it("splits ETCD_ENDPOINTS on commas, trimming and assuming http:// where no scheme is given", () => {
    expect(parseEtcdEndpoints("http://10.0.0.1:2379, https://etcd.example:2379,,10.0.0.2:2379 ")).toEqual([
      "http://10.0.0.1:2379",
      "https://etcd.example:2379",
      "http://10.0.0.2:2379",
    ]);
  });

  it("refuses an empty list, a malformed URL and a scheme etcd does not speak", () => {
    expect(() => parseEtcdEndpoints(" , ")).toThrow(
      "no etcd endpoints given (--etcd-endpoints, ETCD_ENDPOINTS)",
    );
    expect(() => parseEtcdEndpoints("http://127.0.0.1:99999")).toThrow(
      "invalid etcd endpoint 'http://127.0.0.1:99999'",
    );
    expect(() => parseEtcdEndpoints("unix://tmp/etcd.sock")).toThrow("the scheme must be http or https");
  });
});
