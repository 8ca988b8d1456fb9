-- Take over the leases of a dead predecessor that ran under our identity: make its jobs
-- claimable now rather than when their in-progress keys expire.
-- KEYS[1] the identity's lease set; ARGV[1] the identity's token prefix ('{id}|'),
-- ARGV[2] our own token prefix ('{id}|{nonce}|')
-- Returns how many in-progress keys were released.
-- Only keys still holding a token of this identity are touched: a job another worker has
-- claimed since (its own token) is left alone. Two live processes never share an identity
-- (the caller checked), so a token of ours with another nonce is the dead one's.
local released = 0
local ids = redis.pcall('SMEMBERS', KEYS[1])
if type(ids) ~= 'table' or ids.err then return 0 end
for _, id in ipairs(ids) do
  local ip = 'arq:in-progress:' .. id
  local v = redis.pcall('GET', ip)
  if type(v) == 'string' and string.sub(v, 1, #ARGV[1]) == ARGV[1]
      and string.sub(v, 1, #ARGV[2]) ~= ARGV[2] then
    redis.call('DEL', ip)
    released = released + 1
  end
end
redis.pcall('DEL', KEYS[1])
return released
