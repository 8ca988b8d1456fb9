-- Claim and start up to ARGV[3] due jobs in one atomic step.
-- KEYS[1] queue sorted set, KEYS[2] arq:abort, KEYS[3] this worker's lease set (ours)
-- ARGV[1] now (ms), ARGV[2] lease TTL (ms), ARGV[3] most jobs to claim,
-- ARGV[4] ids to look at (arq's queue_read_limit), ARGV[5] '1' when aborts are enabled,
-- ARGV[6] retry-counter TTL (s), ARGV[7] token prefix, ARGV[8] first token number,
-- ARGV[9..] ids this worker still holds (never claimed again while it does).
-- Returns, for n claimed jobs: first one string of n entries `{score},{try},{abort score};`
-- (try and abort score empty for false); then each job's id and payload (false when the job key
-- is gone); then, for each job a key of which holds the wrong type, its number (1..n) and the
-- error. The k-th job claimed (from 0) holds the token `{prefix}{first + k}`, so tokens are not
-- sent back. Numbers go into one table joined once: building a framed string per job cost a
-- fifth of the script's time, and six reply elements per job cost the worker a tenth of its.
--
-- Python workers claim with WATCH in-progress / EXISTS / MULTI PSETEX / EXEC; our SET NX here
-- is a write to that watched key, so a Python worker racing us for the same id fails its EXEC
-- and skips the job, and the script's atomicity keeps two of our workers apart. The value is
-- a token unique to this run: Python only tests that the key exists; our renewals and finish
-- act only while the key still holds it.
--
-- Redis work per claimed job: the SET NX and, on a first try, one SET of the try counter
-- (arq's INCR + EXPIRE leave the same key), and a ZSCORE of arq:abort when aborts are enabled
-- and the key exists; per claim: the ZRANGEBYSCORE pages, one MGET of every payload, SADD and
-- PEXPIRE of the lease set (and EXISTS arq:abort when aborts are enabled).
local want = tonumber(ARGV[3])
local look = tonumber(ARGV[4])
local held = {}
for i = 9, #ARGV do held[ARGV[i]] = true end
local seq = tonumber(ARGV[8])
-- Multi-key commands in slices: unpack() of a very long list overflows Lua's C stack.
local SLICE = 1000
local function each_slice(list, f)
  for s = 1, #list, SLICE do
    f(unpack(list, s, math.min(s + SLICE - 1, #list)))
  end
end
-- Read the due head in small chunks: the head is often jobs already running (ours or
-- another worker's), and reading the whole read limit for one free slot wastes Redis time.
local chunk = math.min(look, want * 2 + 16)
local ids, scores = {}, {}
local offset = 0
while #ids < want and offset < look do
  local page = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', offset, math.min(chunk, look - offset))
  local n = #page / 2
  for i = 1, #page, 2 do
    if #ids >= want then break end
    local id = page[i]
    if not held[id] then
      -- %d, not Lua's default %.14g, so the worker's decimal of the same number matches.
      local token = ARGV[7] .. string.format('%d', seq)
      -- NX: a key of any type means somebody holds the job.
      if redis.call('SET', 'arq:in-progress:' .. id, token, 'NX', 'PX', ARGV[2]) then
        seq = seq + 1
        ids[#ids + 1] = id
        scores[#ids] = page[i + 1]
      end
    end
  end
  if n < chunk then break end
  offset = offset + n
end
if #ids == 0 then return {} end

local function wrong(r, what)
  if type(r) == 'table' and r.err then return what .. ': ' .. r.err end
  return false
end
-- Every payload in one read. MGET answers nil both for a missing key (the job expired) and
-- for a key of another type: only those are read again, one by one, to tell them apart.
local payloads, jkeys = {}, {}
for k, id in ipairs(ids) do jkeys[k] = 'arq:job:' .. id end
each_slice(jkeys, function(...)
  for _, v in ipairs(redis.call('MGET', ...)) do payloads[#payloads + 1] = v end
end)
-- Abort requests are rare: with none at all (no arq:abort key) no job needs its ZSCORE.
local aborts = ARGV[5] == '1' and redis.call('EXISTS', KEYS[2]) == 1
local meta, errs, out = {}, {}, {}
for k, id in ipairs(ids) do
  local jk = jkeys[k]
  local payload = payloads[k]
  local err = false
  if not payload then
    err = wrong(redis.pcall('GET', jk), jk)
    payload = false
  end
  -- arq counts tries with INCR + EXPIRE. A first try (no counter yet) is one SET that leaves
  -- the same key (value 1, the same TTL); a counter that exists, or a key of another type,
  -- goes through INCR as before (which reports the wrong type).
  local rk = 'arq:retry:' .. id
  local try
  local first = redis.pcall('SET', rk, '1', 'EX', ARGV[6], 'NX')
  if type(first) == 'table' and first.ok then
    try = 1
  else
    try = redis.pcall('INCR', rk)
    local terr = wrong(try, rk)
    if terr then
      try = ''
      err = err or terr
    else
      redis.call('EXPIRE', rk, ARGV[6])
    end
  end
  local abort = ''
  if aborts then
    local asked = redis.pcall('ZSCORE', KEYS[2], id)
    if asked and not wrong(asked, KEYS[2]) then
      abort = asked
      redis.call('ZREM', KEYS[2], id)
    end
  end
  local m = #meta
  meta[m + 1] = scores[k]
  meta[m + 2] = ','
  meta[m + 3] = try
  meta[m + 4] = ','
  meta[m + 5] = abort
  meta[m + 6] = ';'
  out[2 * k] = id
  out[2 * k + 1] = payload
  if err then
    errs[#errs + 1] = k
    errs[#errs + 1] = err
  end
end
out[1] = table.concat(meta)
for _, e in ipairs(errs) do out[#out + 1] = e end
each_slice(ids, function(...) redis.pcall('SADD', KEYS[3], ...) end)
redis.pcall('PEXPIRE', KEYS[3], ARGV[2])
return out
