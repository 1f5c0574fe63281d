/**
 * Preloaded (`node --import`) into a `clearance serve` process that a benchmark forks: when the
 * bench's IPC channel closes (the bench ended, or was killed), the node stops as on SIGTERM
 * (`clearance serve` then closes the gateway and exits), so that no gateway outlives its bench.
 */
process.on("disconnect", () => process.kill(process.pid, "SIGTERM"));
