-- Releases a reservation (if it has not lapsed) and adds the actual cost to every budget.
-- KEYS[2i-1], KEYS[2i]: budget i's hash and reservations.
-- ARGV[1]: reservation member ('' for none), ARGV[2]: actual;
-- then per budget: limit, warning threshold, key TTL (s).
-- Returns per budget: spent after, crossed the warning (0/1), crossed the limit (0/1).
local member, actual = ARGV[1], tonumber(ARGV[2])
local out = {}
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local limit = tonumber(ARGV[3 * i])
  local warn = tonumber(ARGV[3 * i + 1])
  local ttl = tonumber(ARGV[3 * i + 2])
  purge(h, z)
  if member ~= '' and redis.call('ZREM', z, member) == 1 then
    release(h, amount_of(member))
  end
  local after = redis.call('HINCRBY', h, 'spent', actual)
  local before = after - actual
  redis.call('EXPIRE', h, ttl)
  redis.call('EXPIRE', z, ttl)
  out[#out + 1] = after
  out[#out + 1] = (before < warn and after >= warn) and 1 or 0
  out[#out + 1] = (before < limit and after >= limit) and 1 or 0
end
return out
