# frozen_string_literal: true

# Checks per second from one Ruby thread beside the same checks from C (build/capi_bench), in
# alternating turns on the same Redis, and their ratio (target: Ruby >= 0.8x C).
#
#   ruby -Ilib bench/bench.rb REDIS_URL [seconds per turn, default 3] [turns, default 3]
#
# Env: THROTTLEKIT_LIB (default <repo>/build/lib/libthrottlekit.so), CAPI_BENCH (default
# <repo>/build/capi_bench; `make bench` builds it).
repo = File.expand_path("../../..", __dir__)
ENV["THROTTLEKIT_LIB"] ||= File.join(repo, "build/lib/libthrottlekit.so")
require "throttlekit"
require "etc"

url = ARGV[0] || ENV["THROTTLEKIT_REDIS_URL"] || abort("usage: bench.rb REDIS_URL [seconds] [turns]")
seconds = Float(ARGV[1] || 3)
turns = Integer(ARGV[2] || 3)
capi = ENV["CAPI_BENCH"] || File.join(repo, "build/capi_bench")
abort("#{capi} is missing: run `make build/capi_bench` (or make bench)") unless File.executable?(capi)

# The same policy and key pattern as capi_bench (a generous gcra over 1,000 keys), under its
# own prefix.
POLICIES = "limiters:\n  api: { strategy: gcra, limit: 1000000, period: 1s, burst: 1000000, prefix: bench-ruby }\n"

def ruby_turn(client, seconds)
  clock = Process::CLOCK_MONOTONIC
  calls = 0
  keys = Array.new(1000) { |i| "user-#{i}" }
  start = Process.clock_gettime(clock)
  finish = start + seconds
  while Process.clock_gettime(clock) < finish
    64.times do
      d = client.check("api", keys[(calls * 7919) % 1000])
      raise "denied: #{d.inspect}" unless d.allowed?

      calls += 1
    end
  end
  calls / (Process.clock_gettime(clock) - start)
end

def c_turn(capi, url, seconds)
  out = IO.popen([capi, url, "check", "1", seconds.to_s], &:read)
  raise "capi_bench failed (#{$?.inspect})" unless $?.success?

  Float(out.strip)
end

client = ThrottleKit::Client.redis(url, policies: POLICIES, timeout: 2)
ruby_turn(client, 0.5) # warm up: open, connect, JIT-free steady state
rubys = []
cs = []
turns.times do |i|
  cs << c_turn(capi, url, seconds)
  rubys << ruby_turn(client, seconds)
  printf("turn %d: C %.0f checks/s, Ruby %.0f checks/s (%.2fx)\n", i + 1, cs.last, rubys.last, rubys.last / cs.last)
end
client.close
median = ->(a) { a.sort[a.size / 2] }
c = median.call(cs)
r = median.call(rubys)
printf("median: C %.0f checks/s, Ruby %.0f checks/s, ratio %.2fx (target >= 0.80x) [%s, ruby %s, %d cpus]\n",
       c, r, r / c, RUBY_PLATFORM, RUBY_VERSION, Etc.respond_to?(:nprocessors) ? Etc.nprocessors : 0)
exit(r / c >= 0.8 ? 0 : 1) if ENV["BENCH_ENFORCE"] == "1"
