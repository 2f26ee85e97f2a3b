-- Fleet-wide key pacing: picks a provider key whose rpm/tpm budget allows a call now, or books
-- the earliest slot, atomically on Redis time. Same GCRA as src/dispatch/pacing.rs (Pacer)
-- and the same choice as KeyPool::pick / KeyPool::book in src/dispatch/keys.rs.
-- KEYS[2i-1], KEYS[2i]: candidate key i's rpm and tpm TAT (µs of Redis time, float string),
--   candidates in rotation order (keys cooling down are left out by the caller).
-- ARGV[1]: the call's tokens; ARGV[2]: the longest wait (µs) a booking may have, or -1 to
--   never book; then per candidate: rpm, tpm (0: no such limit).
-- Returns {i, wait, booking, at}: candidate i (1-based) is taken, its slot `wait` µs from now
--   (0: now); or {0, wait, '', 0}: nothing within the allowed wait, the earliest slot is `wait`
--   µs away. A booked slot's `booking` ('rpm before|rpm after|tpm before|tpm after', the TATs
--   as stored, '' for none) and `at` (its Redis time, µs) are what refund.lua needs to hand it
--   back; a call made now has booking ''.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tokens = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local MAX_DEBT = 86400 * 1000000

-- a budget: per-minute rate, capacity (burst) and the key of its TAT
local function budget(key, per_minute, capacity)
  if per_minute <= 0 then return nil end
  local raw = redis.call('GET', key) or ''
  local tat = tonumber(raw) or 0
  return { key = key, unit = 60000000 / per_minute, capacity = math.max(1, capacity), tat = tat,
    raw = raw }
end

local function span(b, units)
  return math.min(units * b.unit, MAX_DEBT)
end

-- the earliest instant (at or after now) a call of `cost` units may start
local function ready_at(b, cost)
  if b == nil or b.tat <= now then return now end
  local slack = span(b, b.capacity - math.min(cost, b.capacity))
  -- one µs of slack against float rounding
  if now + slack + 1 >= b.tat then return now end
  return b.tat - slack
end

-- books `cost` units at `at`; returns 'before|after' (the TAT as stored), '|' for no budget
local function take(b, at, cost)
  if b == nil then return '|' end
  local base = math.max(b.tat, at)
  local tat = base + span(b, cost)
  local ttl = math.ceil((tat - now) / 1000) + 1000
  local after = string.format('%.17g', tat)
  redis.call('SET', b.key, after, 'PX', ttl)
  return b.raw .. '|' .. after
end

local n = #KEYS / 2
local keys = {}
local best, best_at = 0, nil
for i = 1, n do
  local rpm = tonumber(ARGV[1 + 2 * i])
  local tpm = tonumber(ARGV[2 + 2 * i])
  local k = {
    r = budget(KEYS[2 * i - 1], rpm, math.floor(rpm / 60)),
    t = budget(KEYS[2 * i], tpm, tpm),
  }
  local at = math.max(ready_at(k.r, 1), ready_at(k.t, tokens))
  if at <= now then
    take(k.r, now, 1)
    take(k.t, now, tokens)
    return { i, 0, '', 0 }
  end
  keys[i] = k
  if best_at == nil or at < best_at then
    best, best_at = i, at
  end
end
if best == 0 then
  return { 0, 0, '', 0 }
end
local wait = math.ceil(best_at - now)
if max_wait >= 0 and wait <= max_wait then
  local r = take(keys[best].r, best_at, 1)
  local t = take(keys[best].t, best_at, tokens)
  return { best, wait, r .. '|' .. t, math.floor(best_at) }
end
return { 0, wait, '', 0 }
