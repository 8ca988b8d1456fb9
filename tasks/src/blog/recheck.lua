-- recheck.lua: confirm ids a previous run removed from the visited set. The web app SADDs the
-- id, then HINCRBYs the count, in two commands; a view whose SADD came before settle.lua and
-- whose HINCRBY came after was left out of the set with a count newer than MariaDB's. By now
-- that HINCRBY has landed, so a count that differs from what was written puts the id back.
-- KEYS[1]  flushed hash ({prefix}flushed_pageviews): id -> "{unix ms} {count written}"
-- KEYS[2]  visited set ({prefix}visited_post_ids)
-- KEYS[3..] the pageview hash of each id, in ARGV order
-- ARGV[1]  the count field ("pv")
-- ARGV[2]  minimum age in ms: younger entries wait for a later run
-- ARGV[3..] ids
-- Returns {confirmed, requeued (ids that were missing from the set and are back)}.
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local min_age = tonumber(ARGV[2])
local confirmed, requeued = 0, 0
for i = 3, #KEYS do
  local id = ARGV[i]
  local entry = redis.call('HGET', KEYS[1], id)
  if entry then
    local sp = string.find(entry, ' ', 1, true)
    local at = tonumber(string.sub(entry, 1, (sp or 1) - 1)) or 0
    if now_ms - at >= min_age then
      local written = sp and string.sub(entry, sp + 1) or ''
      local cur = redis.call('HGET', KEYS[i], ARGV[1]) or ''
      if cur ~= written then
        -- Counted only if it was missing: usually a later view has put it back already.
        requeued = requeued + redis.call('SADD', KEYS[2], id)
      else
        confirmed = confirmed + 1
      end
      redis.call('HDEL', KEYS[1], id)
    end
  end
end
return {confirmed, requeued}
