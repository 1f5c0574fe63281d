/**
 * The Lua scripts behind the Redis counters. Redis runs a script atomically, so a check and the
 * increment that follows it cannot interleave with another node's. Keys: an organization's window
 * is a hash (`requests`, `tokens`) under `<prefix>rate:<organization>:<window start>`; a license's
 * tokens are an integer under `<prefix>license:<id>:<period>` (`2026-07`, `2026-Q3`, `total`).
 *
 * Token counts stop at 2^53 − 1, as the memory counters' do: Lua reads Redis' integers as doubles,
 * exact only up to 2^53, and a counter at Redis' largest integer (2^63 − 1) reads back as −2^63 —
 * a license used up would read as never used, and an add to a full window would be refused whole.
 */

/** The largest count kept (2^53 − 1), as Lua compares it and as it is written. */
const MAX = "9007199254740991";

/**
 * KEYS[1]: the organization's window and KEYS[2] this node's admits (see RELEASE_ADMIT) when ARGV[1]
 * is "1"; the other keys: license counters. ARGV[2], ARGV[3]: requests and tokens per minute (-1: no
 * limit); ARGV[4]: the window's lifetime (ms); ARGV[5], ARGV[6]: this admit's slot and ticket.
 * Returns {rate, usage...}: rate -1 no limit applied, 0 counted, 1 over requests, 2 over tokens.
 */
export const ADMIT = `
local result = {-1}
local first = 1
if ARGV[1] == '1' then
  first = 3
  local w = redis.call('HMGET', KEYS[1], 'requests', 'tokens')
  local requests = tonumber(w[1]) or 0
  local tokens = tonumber(w[2]) or 0
  local rpm = tonumber(ARGV[2])
  local tpm = tonumber(ARGV[3])
  if tpm >= 0 and tokens >= tpm then
    result[1] = 2
  elseif rpm >= 0 and requests >= rpm then
    result[1] = 1
  else
    redis.call('HINCRBY', KEYS[1], 'requests', 1)
    redis.call('PEXPIRE', KEYS[1], ARGV[4])
    redis.call('BITFIELD', KEYS[2], 'SET', 'u32', '#' .. ARGV[5], ARGV[6])
    redis.call('PEXPIRE', KEYS[2], ARGV[4])
    result[1] = 0
  end
end
for i = first, #KEYS do
  result[#result + 1] = math.min(tonumber(redis.call('GET', KEYS[i])) or 0, ${MAX})
end
return result
`;

/** KEYS[1]: an organization's window; takes back one request, never going below zero. */
export const RELEASE = `
local n = tonumber(redis.call('HGET', KEYS[1], 'requests'))
if n and n > 0 then redis.call('HINCRBY', KEYS[1], 'requests', -1) end
return 0
`;

/**
 * KEYS[1]: an organization's window; KEYS[2]: this node's admits, a ticket per slot (32 bits), written
 * by each admit that counted a request, and living as long as a window. ARGV[1], ARGV[2]: the admit's
 * slot and ticket. Takes back the request only if that admit counted it and it has not been taken
 * back yet: a release may follow an admit whose answer never came (it may not have run, or not
 * counted), and is sent again when its own answer does not come. Returns 1 when taken back.
 */
export const RELEASE_ADMIT = `
if redis.call('BITFIELD', KEYS[2], 'GET', 'u32', '#' .. ARGV[1])[1] ~= tonumber(ARGV[2]) then return 0 end
redis.call('BITFIELD', KEYS[2], 'SET', 'u32', '#' .. ARGV[1], 0)
local n = tonumber(redis.call('HGET', KEYS[1], 'requests'))
if n and n > 0 then redis.call('HINCRBY', KEYS[1], 'requests', -1) end
return 1
`;

/**
 * KEYS[1]: this node's applied mark; KEYS[2]: the organization's window when ARGV[2] is not empty
 * (its lifetime in ms); the other keys: license counters, each with its lifetime in ms in ARGV[4...]
 * (0: kept for good). ARGV[1]: the tokens to add; ARGV[3]: the add's sequence number, which the mark
 * is raised to once the tokens are added (for a day): an add whose answer never came was applied
 * if and only if the mark reached it (a connection runs its commands in order).
 */
export const ADD = `
local n = tonumber(ARGV[1])
-- Adds n to a counter (a hash's field when given), stopping at MAX. A counter that holds no number
-- is left to INCRBY, which refuses it (the add is then dropped, see refused()).
local function add(key, field)
  local v
  if field then v = redis.call('HGET', key, field) else v = redis.call('GET', key) end
  v = v == false and 0 or tonumber(v)
  if v ~= nil and v + n >= ${MAX} then
    if field then redis.call('HSET', key, field, '${MAX}') else redis.call('SET', key, '${MAX}', 'KEEPTTL') end
  elseif field then
    redis.call('HINCRBY', key, field, n)
  else
    redis.call('INCRBY', key, n)
  end
end
local first = 2
if ARGV[2] ~= '' then
  first = 3
  add(KEYS[2], 'tokens')
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
for i = first, #KEYS do
  add(KEYS[i])
  local ttl = tonumber(ARGV[i - first + 4])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[i], ttl) end
end
local seq = tonumber(ARGV[3])
if seq > (tonumber(redis.call('GET', KEYS[1])) or 0) then
  redis.call('SET', KEYS[1], seq, 'PX', 86400000)
end
return 0
`;

/**
 * KEYS: license counters; ARGV: per key, the store's figure, the tokens this node could not send
 * (0 when seeding), and the lifetime in ms (0: for good). Each counter becomes
 * max(counter + unsent, stored): never lowered, and tokens the store already holds (the Meter
 * flushed them during the outage) are not added a second time, and never past 2^53 − 1. A counter
 * that is missing, or not a whole number, counts as 0.
 */
export const SEED = `
for i = 1, #KEYS do
  local stored = tonumber(ARGV[3 * i - 2])
  local unsent = tonumber(ARGV[3 * i - 1])
  local ttl = tonumber(ARGV[3 * i])
  local current = tonumber(redis.call('GET', KEYS[i]))
  if current == nil or current ~= math.floor(current) then current = nil end
  local value = math.min(math.max((current or 0) + unsent, stored), ${MAX})
  if current == nil or value ~= current then
    if ttl > 0 then
      redis.call('SET', KEYS[i], value, 'PX', ttl)
    else
      redis.call('SET', KEYS[i], value)
    end
  end
end
return 0
`;
