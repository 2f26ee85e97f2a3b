-- Shared by the budget scripts: Redis time in ms, and dropping lapsed reservations.
-- A budget is a hash {spent, reserved} (micro-dollars) and a sorted set of reservations,
-- members "{id}:{amount}" scored by the ms they lapse at.
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function amount_of(member)
  return tonumber(string.match(member, ':(%d+)$')) or 0
end

local function release(h, amount)
  if amount > 0 and redis.call('HINCRBY', h, 'reserved', -amount) < 0 then
    redis.call('HSET', h, 'reserved', 0)
  end
end

local function purge(h, z)
  local lapsed = redis.call('ZRANGEBYSCORE', z, '-inf', now_ms)
  if #lapsed > 0 then
    local freed = 0
    for _, m in ipairs(lapsed) do
      freed = freed + amount_of(m)
    end
    release(h, freed)
    redis.call('ZREMRANGEBYSCORE', z, '-inf', now_ms)
  end
end

local function usage(h)
  local v = redis.call('HMGET', h, 'spent', 'reserved')
  return tonumber(v[1]) or 0, tonumber(v[2]) or 0
end
