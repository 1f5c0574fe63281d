/** The one list of errors meaning "this file system cannot sync a directory" (the audit log's and the usage journal's). */
import { expect, it } from "vitest";
import { cannotSyncDirectory } from "./dir-sync.js";

const fault = (code: string) => Object.assign(new Error(code), { code });

it("is EINVAL, EPERM, EISDIR and EBADF, nothing else", () => {
  expect(["EINVAL", "EPERM", "EISDIR", "EBADF"].map((c) => cannotSyncDirectory(fault(c)))).toEqual([
    true,
    true,
    true,
    true,
  ]);
  expect(["EIO", "ENOSPC", "ENOENT", "EACCES"].map((c) => cannotSyncDirectory(fault(c)))).toEqual([
    false,
    false,
    false,
    false,
  ]);
  expect(cannotSyncDirectory(new Error("no code"))).toBe(false);
  expect(cannotSyncDirectory(undefined)).toBe(false);
});
