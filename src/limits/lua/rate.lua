-- GCRA buckets, atomically across all of a request's rules, on Redis time.
-- KEYS[i]: bucket i, holding its TAT (µs) as a float string.
-- ARGV[1]: 'check' (take only if every bucket allows) or 'take' (take without a check);
-- then per bucket: window (µs), limit, cost.
-- Returns per bucket: status (0 allowed, 1 denied, 2 never fits), remaining, reset (µs until
-- full), retry (µs until the cost fits).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local take = ARGV[1] == 'take'
local out, new = {}, {}
local ok = true
for i = 1, #KEYS do
  local w = tonumber(ARGV[3 * i - 1])
  local limit = tonumber(ARGV[3 * i])
  local cost = tonumber(ARGV[3 * i + 1])
  local step = w / limit
  -- floats round; this slack (at most 1/1000 of a unit) keeps a full bucket's last unit usable
  local eps = math.max(step / 1000, 1)
  local tat = tonumber(redis.call('GET', KEYS[i]) or now) or now
  if tat < now then tat = now end
  local used = tat - now
  local after = tat + cost * step
  local status, retry = 0, 0
  if take then
    new[i] = after
    used = after - now
  elseif cost > limit then
    status = 2
    ok = false
  elseif after - now <= w + eps then
    new[i] = after
    used = after - now
  else
    status = 1
    retry = after - now - w
    ok = false
  end
  local remaining = math.floor((w - used + eps) / step)
  if remaining < 0 then remaining = 0 end
  if remaining > limit then remaining = limit end
  out[#out + 1] = status
  out[#out + 1] = remaining
  out[#out + 1] = math.ceil(used)
  out[#out + 1] = math.ceil(retry)
end
if ok or take then
  for i = 1, #KEYS do
    if new[i] ~= nil and new[i] > now then
      local ttl = math.ceil((new[i] - now) / 1000) + 1000
      redis.call('SET', KEYS[i], string.format('%.17g', new[i]), 'PX', ttl)
    end
  end
end
return out
