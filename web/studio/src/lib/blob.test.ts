import { describe, expect, it } from "vitest";
import { accountPath, blobUrl, formatBytes, parseBlobList, parseCodeId, parseStorageUri } from "./blob";

describe("storage URIs", () => {
  it("reads datastore, server blob and Azure blob URIs", () => {
    expect(parseStorageUri("azureml://datastores/workspaceblobstore/paths/azureml/job1/model/")).toEqual({ datastore: "workspaceblobstore", path: "azureml/job1/model/" });
    expect(parseStorageUri("azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.job1")).toEqual({ datastore: "workspaceartifactstore", path: "ExperimentRun/dcid.job1" });
    expect(parseStorageUri("https://127.0.0.1:8443/blob/acct1/azureml-blobstore-x/LocalUpload/abc/src")).toEqual({ account: "acct1", container: "azureml-blobstore-x", path: "LocalUpload/abc/src" });
    expect(parseStorageUri("https://acct1.blob.core.windows.net/c1/LocalUpload/a%20b")).toEqual({ account: "acct1", container: "c1", path: "LocalUpload/a b" });
    expect(parseStorageUri("https://example.org/data.csv")).toBeNull();
    expect(parseStorageUri("./src")).toBeNull();
  });
  it("reads code ids", () => {
    expect(parseCodeId("/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w/codes/c-1/versions/1")).toEqual({ name: "c-1", version: "1" });
    expect(parseCodeId("azureml:/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w/codes/c-1/versions/2")).toEqual({ name: "c-1", version: "2" });
    expect(parseCodeId("azureml:my-code:3")).toEqual({ name: "my-code", version: "3" });
    expect(parseCodeId("nonsense")).toBeNull();
  });
  it("finds the Blob API of a datastore's account", () => {
    expect(accountPath("127.0.0.1:8443/blob/acct1/?x=")).toBe("/blob/acct1");
    expect(accountPath("acct1")).toBe("/blob/acct1");
    expect(blobUrl({ datastore: "d", base: "/blob/a/c", sas: "sv=1&sig=x" }, "outputs/a b.txt")).toBe("/blob/a/c/outputs/a%20b.txt?sv=1&sig=x");
  });
});

describe("parseBlobList", () => {
  it("reads names, sizes and the next marker", () => {
    const xml = `<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="x" ContainerName="c"><Prefix>p/</Prefix>
      <Blobs><Blob><Name>p/train.py</Name><Properties><Content-Length>12</Content-Length><Last-Modified>Mon, 02 Mar 2026 10:00:00 GMT</Last-Modified></Properties></Blob>
      <Blob><Name>p/data/rows.csv</Name><Properties><Content-Length>0</Content-Length></Properties></Blob></Blobs><NextMarker>p/z</NextMarker></EnumerationResults>`;
    const page = parseBlobList(xml);
    expect(page.items.map((b) => [b.name, b.size])).toEqual([["p/train.py", 12], ["p/data/rows.csv", 0]]);
    expect(page.next).toBe("p/z");
    expect(parseBlobList(`<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>`)).toEqual({ items: [], next: "" });
  });
  it("formats sizes", () => {
    expect(formatBytes(12)).toBe("12 B");
    expect(formatBytes(2048)).toBe("2.0 KB");
    expect(formatBytes(5 * 1024 * 1024)).toBe("5.0 MB");
  });
});
