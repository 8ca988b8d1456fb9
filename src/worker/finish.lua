-- Finish a batch of jobs, each only while its in-progress key still holds our token, and
-- remove that token in the same step: a finish applied twice (a replay after a lost reply)
-- or from a run whose lease went to another worker changes nothing.
-- KEYS[1] queue sorted set, KEYS[2] arq:abort, KEYS[3] this worker's lease set (ours)
-- ARGV[1] how long a cron job's in-progress key is kept (ms); then 8 fields per job:
--   id, token, kind ('done' | 'failed' | 'retry'), cron ('1' | '0'),
--   result ('' none | 'px' with TTL | 'keep' forever), result TTL (ms), result bytes,
--   score increment for a retry ('' none)
-- Returns per job: 1 written, 0 not ours (nothing written), or the errors of the commands
-- that failed (a key of the wrong type), the rest of that job's commands written.
-- Each command goes through pcall so one job's bad key fails that job's command only, never
-- the batch; the in-progress key is removed (or replaced) as the job's last write, and an
-- error other than a wrong type (OOM under noeviction, a replica) fails the whole call so it is
-- retried. Writes are what arq's finish_job / finish_failed_job write.
local out = {}
local finished = {}
for i = 2, #ARGV, 8 do
  local id, token, kind, cron = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local ip = 'arq:in-progress:' .. id
  local cur = redis.pcall('GET', ip)
  if cur ~= token then
    out[#out + 1] = 0
  else
    local errs = {}
    -- A wrong type is this job's problem: note it (naming the key, so the stray key is found)
    -- and write the rest. Anything else (OOM under maxmemory, a replica) fails the whole call,
    -- to be retried: the token is removed last, so a retry re-applies this job's writes and
    -- skips the jobs already finished.
    local function try(...)
      local r = redis.pcall(...)
      if type(r) == 'table' and r.err then
        if string.sub(r.err, 1, 9) ~= 'WRONGTYPE' then error(r) end
        errs[#errs + 1] = select(2, ...) .. ': ' .. r.err
      end
    end
    if kind == 'retry' then
      local incr = ARGV[i + 7]
      if incr ~= '' and tonumber(incr) ~= 0 then try('ZINCRBY', KEYS[1], incr, id) end
    else
      local mode = ARGV[i + 4]
      if mode == 'px' then
        try('SET', 'arq:result:' .. id, ARGV[i + 6], 'PX', ARGV[i + 5])
      elseif mode == 'keep' then
        try('SET', 'arq:result:' .. id, ARGV[i + 6])
      end
      try('ZREM', KEYS[2], id)
      try('ZREM', KEYS[1], id)
    end
    local gone = kind ~= 'retry'
    if cron == '1' and kind ~= 'failed' then
      if gone then try('DEL', 'arq:retry:' .. id, 'arq:job:' .. id) end
      -- Kept so no worker runs this tick again (arq's keep_cronjob_progress); no longer our
      -- token, so a replay of this finish finds nothing of ours.
      try('SET', ip, 'cron-done', 'PX', ARGV[1])
    elseif gone then
      try('DEL', 'arq:retry:' .. id, 'arq:job:' .. id, ip)
    else
      try('DEL', ip)
    end
    finished[#finished + 1] = id
    if #errs == 0 then
      out[#out + 1] = 1
    else
      out[#out + 1] = table.concat(errs, '; ')
    end
  end
end
if #finished > 0 then redis.pcall('SREM', KEYS[3], unpack(finished)) end
return out
