-- Hands back a fleet-wide booking nobody used (the waiter gave up or was dropped), the way
-- Pacer::refund does in src/dispatch/pacing.rs: the latest booking on a key is undone exactly
-- (its TATs go back to what they were before it); an earlier one is kept as a hole, undone in
-- turn once every booking after it is gone. Holes whose instant has passed are dropped.
-- KEYS[1], KEYS[2]: the key's rpm and tpm TAT; KEYS[3]: its holes (a sorted set by instant).
-- ARGV[1]: the booking as pace.lua returned it; ARGV[2]: its instant (µs of Redis time).
-- Returns how many bookings were undone.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local function parts(m)
  return string.match(m, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
end

-- whether `after` is what KEYS[i] holds (no budget: nothing to match)
local function top(i, after)
  return after == '' or redis.call('GET', KEYS[i]) == after
end

local function restore(i, before, after)
  if after == '' then return end
  local tat = tonumber(before)
  if tat == nil or tat <= now then
    redis.call('DEL', KEYS[i])
  else
    redis.call('SET', KEYS[i], before, 'PX', math.ceil((tat - now) / 1000) + 1000)
  end
end

if parts(ARGV[1]) == nil then
  return 0
end
redis.call('ZADD', KEYS[3], tonumber(ARGV[2]), ARGV[1])
local undone = 0
while true do
  local found = nil
  for _, m in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
    local rb, ra, tb, ta = parts(m)
    if (ra ~= '' or ta ~= '') and top(1, ra) and top(2, ta) then
      restore(1, rb, ra)
      restore(2, tb, ta)
      found = m
      break
    end
  end
  if found == nil then break end
  redis.call('ZREM', KEYS[3], found)
  undone = undone + 1
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. string.format('%d', now))
local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
if last[2] ~= nil then
  redis.call('PEXPIRE', KEYS[3], math.ceil((tonumber(last[2]) - now) / 1000) + 1000)
end
return undone
