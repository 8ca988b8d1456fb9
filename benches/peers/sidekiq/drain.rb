# Sidekiq peer (Debian's ruby-sidekiq, see ../README.md):
#   ruby drain.rb enqueue N
#   BENCH_N=N sidekiq -r ./drain.rb -c CONCURRENCY -q bench     (the drain)
# A job counts once its perform has returned (a server middleware, after the job); Sidekiq
# acknowledges it right after. The N-th prints the JSON line and ends the process.
require 'sidekiq'
require 'json'

T0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
URL = ENV.fetch('BENCH_REDIS_URL', 'redis://127.0.0.1:6379')
Sidekiq.configure_client { |c| c.redis = { url: URL } }

class NoopJob
  include Sidekiq::Worker
  sidekiq_options queue: 'bench'

  def perform; end
end

class CountDone
  LOCK = Mutex.new
  @done = 0
  class << self
    attr_accessor :done
  end

  def call(_worker, _job, _queue)
    yield
    n = LOCK.synchronize { CountDone.done += 1 }
    return unless n == Integer(ENV.fetch('BENCH_N'))
    seconds = Process.clock_gettime(Process::CLOCK_MONOTONIC) - T0
    $stdout.puts({ jobs: n, seconds: seconds }.to_json)
    $stdout.flush
    Process.exit!(0)
  end
end

Sidekiq.configure_server do |c|
  c.redis = { url: URL }
  c.server_middleware { |chain| chain.add CountDone }
end

if $PROGRAM_NAME == __FILE__ && ARGV[0] == 'enqueue'
  n = Integer(ARGV[1])
  (0...n).each_slice(1000) do |slice|
    Sidekiq::Client.push_bulk('class' => NoopJob, 'args' => slice.map { [] })
  end
end
