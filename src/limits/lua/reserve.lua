-- Reserves an amount on every budget if it fits on all (spent + reserved + amount <= limit).
-- KEYS[2i-1], KEYS[2i]: budget i's hash and reservations.
-- ARGV[1]: reservation member, ARGV[2]: amount, ARGV[3]: ms until it lapses;
-- then per budget: limit, key TTL (s).
-- Returns {index of the first budget it does not fit (0: reserved), then per budget spent,
-- reserved (before this reservation)}.
local member, amount, hold_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local n = #KEYS / 2
local out = {0}
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  purge(h, z)
  local spent, reserved = usage(h)
  out[#out + 1] = spent
  out[#out + 1] = reserved
  if out[1] == 0 and spent + reserved + amount > tonumber(ARGV[2 + 2 * i]) then
    out[1] = i
  end
end
if out[1] == 0 then
  for i = 1, n do
    local h, z = KEYS[2 * i - 1], KEYS[2 * i]
    local ttl = tonumber(ARGV[3 + 2 * i])
    redis.call('ZADD', z, now_ms + hold_ms, member)
    redis.call('HINCRBY', h, 'reserved', amount)
    redis.call('EXPIRE', h, ttl)
    redis.call('EXPIRE', z, ttl)
  end
end
return out
