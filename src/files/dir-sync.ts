/**
 * Whether a failed fsync of a directory means only that this file system cannot sync a directory,
 * which the audit log's tiles and the usage journal both go on without (as SQLite does): some FUSE
 * mounts and volume drivers answer EINVAL, Windows EPERM, EISDIR or EBADF. Any other error (EIO, a
 * failing disk) is one to say.
 */
export function cannotSyncDirectory(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === "EINVAL" || code === "EPERM" || code === "EISDIR" || code === "EBADF";
}
