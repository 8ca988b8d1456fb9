-- settle.lua: after a batch's counts are in MariaDB, drop each id from the visited set only if
-- its count is still the one we wrote; remember what we wrote for the next run's recheck.
-- KEYS[1]  visited set ({prefix}visited_post_ids)
-- KEYS[2]  flushed hash ({prefix}flushed_pageviews): id -> "{unix ms} {count written}"
-- KEYS[3..] the pageview hash of each id, in ARGV order
-- ARGV[1]  the count field ("pv")
-- ARGV[2i], ARGV[2i+1] (i = 1..n)  id, the raw count read before the write ("" if none)
-- Returns {removed, kept}.
local t = redis.call('TIME')
local now_ms = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
local removed, kept = 0, 0
for i = 3, #KEYS do
  local id = ARGV[2 * (i - 2)]
  local written = ARGV[2 * (i - 2) + 1]
  local cur = redis.call('HGET', KEYS[i], ARGV[1]) or ''
  if cur == written then
    redis.call('SREM', KEYS[1], id)
    redis.call('HSET', KEYS[2], id, now_ms .. ' ' .. written)
    removed = removed + 1
  else
    -- A view came in after our read: the id must stay (SADD, in case a flush running at
    -- the same time removed it), and the next run writes the new count.
    redis.call('SADD', KEYS[1], id)
    kept = kept + 1
  end
end
return {removed, kept}
