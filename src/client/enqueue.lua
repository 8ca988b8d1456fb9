-- Enqueue a job unless its id is taken.
-- KEYS[1] arq:job:{id}, KEYS[2] arq:result:{id}, KEYS[3] queue sorted set
-- ARGV[1] serialized job, ARGV[2] job key TTL (ms), ARGV[3] score (ms), ARGV[4] job id
-- KEYS[4], when given: arq:in-progress:{id}, which must not exist either (our cron enqueue).
-- Returns 1 when enqueued, 0 when a job or result with this id exists.
-- arq checks EXISTS under WATCH and writes in MULTI; a script is the same check-and-write
-- without the retry loop, and Python producers' WATCH still sees these writes.
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then
  return 0
end
if KEYS[4] and redis.call('EXISTS', KEYS[4]) > 0 then
  return 0
end
redis.call('PSETEX', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
return 1
