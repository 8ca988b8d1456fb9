-- Renew this worker's identity and every lease it holds, in one round trip.
-- KEYS[1] our identity key, KEYS[2] our lease set
-- ARGV[1] lease TTL (ms), ARGV[2] our identity value, then pairs: job id, token
-- Returns: identity status (1 ours, 0 another process holds it now), then per pair 1 when
-- the in-progress key still held our token (and was extended), else 0.
-- Only PEXPIRE writes here in the common case: it is not refused when Redis is out of memory
-- (noeviction), so leases outlive a full Redis while finishes wait for room.
local ident = redis.pcall('GET', KEYS[1])
if ident == false then
  -- Expired while we could not reach Redis; nobody else took it.
  redis.pcall('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
elseif ident ~= ARGV[2] then
  return {0}
else
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local out = {1}
for i = 3, #ARGV, 2 do
  local ip = 'arq:in-progress:' .. ARGV[i]
  if redis.pcall('GET', ip) == ARGV[i + 1] then
    redis.call('PEXPIRE', ip, ARGV[1])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
redis.pcall('PEXPIRE', KEYS[2], ARGV[1])
return out
