-- Claim and start up to ARGV[3] due jobs in one atomic step.
-- KEYS[1] queue sorted set, KEYS[2] arq:abort
-- ARGV[1] now (ms), ARGV[2] in-progress TTL (ms), ARGV[3] most jobs to claim,
-- ARGV[4] ids to look at (arq's queue_read_limit), ARGV[5] '1' when aborts are enabled,
-- ARGV[6] retry-counter TTL (s)
-- Returns per claimed job: id, score, payload or nil, try counter, abort score or nil.
--
-- Python workers claim with WATCH in-progress / EXISTS / MULTI PSETEX / EXEC; our PSETEX here
-- is a write to that watched key, so a Python worker racing us for the same id fails its EXEC
-- and skips the job, and the script's atomicity keeps two of our workers apart.
local want = tonumber(ARGV[3])
local look = tonumber(ARGV[4])
-- Read the due head in small chunks: the head is often jobs already running (ours or
-- another worker's), and reading the whole read limit for one free slot wastes Redis time.
local chunk = math.min(look, want * 2 + 16)
local out = {}
local claimed = 0
local offset = 0
while claimed < want and offset < look do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', offset, chunk)
  for _, id in ipairs(ids) do
    if claimed >= want then break end
    local ip = 'arq:in-progress:' .. id
    if redis.call('EXISTS', ip) == 0 then
      local score = redis.call('ZSCORE', KEYS[1], id)
      redis.call('PSETEX', ip, ARGV[2], '1')
      local payload = redis.call('GET', 'arq:job:' .. id)
      local rk = 'arq:retry:' .. id
      local try = redis.call('INCR', rk)
      redis.call('EXPIRE', rk, ARGV[6])
      local abort = false
      if ARGV[5] == '1' then
        abort = redis.call('ZSCORE', KEYS[2], id)
        if abort then redis.call('ZREM', KEYS[2], id) end
      end
      out[#out + 1] = id
      out[#out + 1] = score
      out[#out + 1] = payload
      out[#out + 1] = try
      out[#out + 1] = abort
      claimed = claimed + 1
    end
  end
  if #ids < chunk then break end
  offset = offset + #ids
end
return out
