-- Claim and start up to ARGV[3] due jobs in one atomic step.
-- KEYS[1] queue sorted set, KEYS[2] arq:abort, KEYS[3] this worker's lease set (ours)
-- ARGV[1] now (ms), ARGV[2] lease TTL (ms), ARGV[3] most jobs to claim,
-- ARGV[4] ids to look at (arq's queue_read_limit), ARGV[5] '1' when aborts are enabled,
-- ARGV[6] retry-counter TTL (s), ARGV[7] token prefix, ARGV[8] first token number,
-- ARGV[9..] ids this worker still holds (never claimed again while it does).
-- Returns per claimed job: id, score, payload or false, try or false, abort score or false,
-- token, error or false (a key of this job holding the wrong type).
--
-- Python workers claim with WATCH in-progress / EXISTS / MULTI PSETEX / EXEC; our SET NX here
-- is a write to that watched key, so a Python worker racing us for the same id fails its EXEC
-- and skips the job, and the script's atomicity keeps two of our workers apart. The value is
-- a token unique to this run: Python only tests that the key exists; our renewals and finish
-- act only while the key still holds it.
local want = tonumber(ARGV[3])
local look = tonumber(ARGV[4])
local held = {}
for i = 9, #ARGV do held[ARGV[i]] = true end
local seq = tonumber(ARGV[8])
-- Read the due head in small chunks: the head is often jobs already running (ours or
-- another worker's), and reading the whole read limit for one free slot wastes Redis time.
local chunk = math.min(look, want * 2 + 16)
local out = {}
local claimed_ids = {}
local offset = 0
local function wrong(r, what)
  if type(r) == 'table' and r.err then return what .. ': ' .. r.err end
  return false
end
while #claimed_ids < want and offset < look do
  local page = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', offset, math.min(chunk, look - offset))
  local n = #page / 2
  for i = 1, #page, 2 do
    if #claimed_ids >= want then break end
    local id = page[i]
    if not held[id] then
      local token = ARGV[7] .. seq
      -- NX: a key of any type means somebody holds the job.
      if redis.call('SET', 'arq:in-progress:' .. id, token, 'NX', 'PX', ARGV[2]) then
        seq = seq + 1
        local err = false
        local payload = redis.pcall('GET', 'arq:job:' .. id)
        err = wrong(payload, 'arq:job:' .. id)
        if err then payload = false end
        local rk = 'arq:retry:' .. id
        local try = redis.pcall('INCR', rk)
        local terr = wrong(try, rk)
        if terr then
          try = false
          err = err or terr
        else
          redis.call('EXPIRE', rk, ARGV[6])
        end
        local abort = false
        if ARGV[5] == '1' then
          abort = redis.pcall('ZSCORE', KEYS[2], id)
          if wrong(abort, KEYS[2]) then
            abort = false
          elseif abort then
            redis.call('ZREM', KEYS[2], id)
          end
        end
        out[#out + 1] = id
        out[#out + 1] = page[i + 1]
        out[#out + 1] = payload
        out[#out + 1] = try
        out[#out + 1] = abort
        out[#out + 1] = token
        out[#out + 1] = err
        claimed_ids[#claimed_ids + 1] = id
      end
    end
  end
  if n < chunk then break end
  offset = offset + n
end
if #claimed_ids > 0 then
  redis.pcall('SADD', KEYS[3], unpack(claimed_ids))
  redis.pcall('PEXPIRE', KEYS[3], ARGV[2])
end
return out
