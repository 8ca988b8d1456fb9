-- Retry a failed job under its own id: delete its result and enqueue it again, at once.
-- KEYS[1] arq:job:{id}, KEYS[2] arq:result:{id}, KEYS[3] queue sorted set,
-- KEYS[4] arq:in-progress:{id}
-- ARGV[1] serialized job, ARGV[2] job key TTL (ms), ARGV[3] score (ms), ARGV[4] job id,
-- ARGV[5] the result as read (the retry is refused if it changed since).
-- Returns 1 when enqueued, 0 when the id is queued or running, -1 when the result changed.
-- As Python's `delete result` then `enqueue_job(_job_id=id)`, without the window between
-- them in which another producer could take the id.
if redis.call('GET', KEYS[2]) ~= ARGV[5] then
  return -1
end
if redis.call('EXISTS', KEYS[1], KEYS[4]) > 0 then
  return 0
end
redis.call('DEL', KEYS[2])
redis.call('PSETEX', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
return 1
