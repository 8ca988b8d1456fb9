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
-- Writes are what arq's finish_job / finish_failed_job write. Redis work: one MGET of every
-- in-progress key (the token checks); per job one SET of its result (a ZINCRBY for a retry
-- that moves its score); then for the whole batch one ZREM of arq:abort, one ZREM of the
-- queue, one DEL of every key to go and one SREM of the lease set. The queue, arq:abort and
-- the lease set are one key each for the whole batch, so a wrong type there is every job's
-- error, as it would be for each job's own command.
--
-- Order, for a call cut short: each command goes through pcall so a key of the wrong type
-- fails that command only (noted, the rest written); any other error (OOM under noeviction, a
-- replica) fails the whole call, to be retried. The writes that remove or replace a token
-- (the DEL, a cron job's SET) come after every other write of the batch, so a retry finds the
-- token of each job not yet finished and applies its writes again, and skips the rest.
local SLICE = 1000
local function each_slice(list, f)
  for s = 1, #list, SLICE do
    f(unpack(list, s, math.min(s + SLICE - 1, #list)))
  end
end
local jobs = (#ARGV - 1) / 8
local out = {}
local errs = {}
local function try(j, ...)
  local r = redis.pcall(...)
  if type(r) == 'table' and r.err then
    if string.sub(r.err, 1, 9) ~= 'WRONGTYPE' then error(r) end
    errs[j] = errs[j] or {}
    table.insert(errs[j], select(2, ...) .. ': ' .. r.err)
  end
end

local current = {}
do
  local ips = {}
  for j = 1, jobs do ips[j] = 'arq:in-progress:' .. ARGV[2 + (j - 1) * 8] end
  -- A key of another type reads as nil here: not our token, nothing written.
  each_slice(ips, function(...)
    for _, v in ipairs(redis.call('MGET', ...)) do current[#current + 1] = v end
  end)
end

local ours, gone, dels, cron_keep, finished = {}, {}, {}, {}, {}
for j = 1, jobs do
  local i = 2 + (j - 1) * 8
  local id, token, kind, cron = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if current[j] ~= token then
    out[j] = 0
  else
    ours[#ours + 1] = j
    finished[#finished + 1] = id
    local ip = 'arq:in-progress:' .. id
    if kind == 'retry' then
      local incr = ARGV[i + 7]
      if incr ~= '' and tonumber(incr) ~= 0 then try(j, 'ZINCRBY', KEYS[1], incr, id) end
    else
      local mode = ARGV[i + 4]
      if mode == 'px' then
        try(j, 'SET', 'arq:result:' .. id, ARGV[i + 6], 'PX', ARGV[i + 5])
      elseif mode == 'keep' then
        try(j, 'SET', 'arq:result:' .. id, ARGV[i + 6])
      end
      gone[#gone + 1] = j
    end
    local leaves = kind ~= 'retry'
    if leaves then
      dels[#dels + 1] = 'arq:retry:' .. id
      dels[#dels + 1] = 'arq:job:' .. id
    end
    if cron == '1' and kind ~= 'failed' then
      -- Kept so no worker runs this tick again (arq's keep_cronjob_progress); no longer our
      -- token, so a replay of this finish finds nothing of ours.
      cron_keep[#cron_keep + 1] = ip
    else
      dels[#dels + 1] = ip
    end
  end
end

-- One command for the whole batch, its error (a wrong type) noted for each job it was for.
local function batch(members, cmd, key)
  if #members == 0 then return end
  local list = {}
  for k, j in ipairs(members) do list[k] = ARGV[2 + (j - 1) * 8] end
  for s = 1, #list, SLICE do
    local r = redis.pcall(cmd, key, unpack(list, s, math.min(s + SLICE - 1, #list)))
    if type(r) == 'table' and r.err then
      if string.sub(r.err, 1, 9) ~= 'WRONGTYPE' then error(r) end
      for k = s, math.min(s + SLICE - 1, #list) do
        local j = members[k]
        errs[j] = errs[j] or {}
        table.insert(errs[j], key .. ': ' .. r.err)
      end
    end
  end
end
batch(gone, 'ZREM', KEYS[2])
batch(gone, 'ZREM', KEYS[1])
-- DEL takes a key of any type.
each_slice(dels, function(...) redis.call('DEL', ...) end)
for k, ip in ipairs(cron_keep) do
  try(0, 'SET', ip, 'cron-done', 'PX', ARGV[1])
end
each_slice(finished, function(...) redis.pcall('SREM', KEYS[3], ...) end)
for _, j in ipairs(ours) do
  if errs[j] then out[j] = table.concat(errs[j], '; ') else out[j] = 1 end
end
return out
