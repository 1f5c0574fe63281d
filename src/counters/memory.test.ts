import { MemoryCounters } from "./memory.js";
import { countersSuite } from "./suite.js";

// One node: a "second node" is the same counters.
countersSuite(
  "memory",
  () => Promise.resolve(new MemoryCounters()),
  (c) => Promise.resolve(c),
);
