-- Reads every budget's spend and live reservations.
-- KEYS[2i-1], KEYS[2i]: budget i's hash and reservations.
-- Returns per budget: spent, reserved.
local out = {}
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  purge(h, z)
  local spent, reserved = usage(h)
  out[#out + 1] = spent
  out[#out + 1] = reserved
end
return out
