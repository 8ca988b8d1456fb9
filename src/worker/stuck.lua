-- Find due jobs no worker will ever claim: their in-progress key is not a lease (the wrong
-- type, or a key without expiry). Claims (ours by SET NX, arq's by EXISTS) skip any key there,
-- so such a job waits forever, silently; this finds it for a log line.
-- KEYS[1] queue sorted set; ARGV[1] now (ms), ARGV[2] how many due ids to look at
-- Returns per stuck job: id, the key's type, its PTTL (-1: no expiry).
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  local ip = 'arq:in-progress:' .. id
  local t = redis.call('TYPE', ip).ok
  if t ~= 'none' then
    local pttl = redis.call('PTTL', ip)
    if t ~= 'string' or pttl == -1 then
      out[#out + 1] = id
      out[#out + 1] = t
      out[#out + 1] = pttl
    end
  end
end
return out
