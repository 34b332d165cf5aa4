# frozen_string_literal: true

# Checks per second from one Ruby thread beside the same checks from C (build/capi_bench), in
# alternating turns on the same Redis, and their ratio (target: Ruby >= 0.8x C). Every call is
# also timed (CLOCK_MONOTONIC in ns, into an array filled before the clock starts), and each
# side's p50 and p99 printed, then all of it again as a markdown table (scripts/bench-report.sh
# collects it). Then the same turns on a leased two-tier policy (the gcra fronted by
# `twoTier: { mode: leased, batch: 1000 }`: one script call per 1,000 checks of a key, the rest
# spent locally), listed without a target.
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
POLICIES = "limiters:\n  api: { strategy: gcra, limit: 1000000, period: 1s, burst: 1000000, prefix: bench-ruby }\n" \
           "  leased: { strategy: gcra, limit: 1000000, period: 1s, burst: 1000000, prefix: bench-ruby-leased,\n" \
           "            twoTier: { mode: leased, batch: 1000 } }\n"

MAX_SAMPLES = 1 << 20 # latencies kept per turn; past it the array wraps around

# p50 and p99 (nearest rank below, as the Go benches read them) of the first n of lat.
def percentiles(lat, n)
  return [0, 0] if n.zero?

  kept = lat.first(n).sort!
  [kept[(0.50 * (n - 1)).to_i], kept[(0.99 * (n - 1)).to_i]]
end

# One turn: [checks/s, p50 ns, p99 ns].
def ruby_turn(client, seconds, policy = "api")
  clock = Process::CLOCK_MONOTONIC
  calls = 0
  keys = Array.new(1000) { |i| "user-#{i}" }
  lat = Array.new(MAX_SAMPLES, 0)
  start = Process.clock_gettime(clock)
  finish = start + seconds
  while Process.clock_gettime(clock) < finish
    64.times do
      t0 = Process.clock_gettime(clock, :nanosecond)
      d = client.check(policy, keys[(calls * 7919) % 1000])
      lat[calls % MAX_SAMPLES] = Process.clock_gettime(clock, :nanosecond) - t0
      raise "denied: #{d.inspect}" unless d.allowed?

      calls += 1
    end
  end
  [calls / (Process.clock_gettime(clock) - start), *percentiles(lat, [calls, MAX_SAMPLES].min)]
end

# One capi_bench run: [checks/s, p50 ns, p99 ns] from its two lines.
def c_turn(capi, url, seconds, mode = "check")
  out = IO.popen([capi, url, mode, "1", seconds.to_s], &:read)
  raise "capi_bench failed (#{$?.inspect})" unless $?.success?

  ops, latency = out.strip.lines
  m = /\Alatency_ns p50=(\d+) p99=(\d+)/.match(latency.to_s) or raise "capi_bench printed #{out.inspect}"
  [Float(ops.strip), Float(m[1]), Float(m[2])]
end

def us(ns)
  ns >= 1e6 ? format("%.2f ms", ns / 1e6) : format("%.1f µs", ns / 1e3)
end

client = ThrottleKit::Client.redis(url, policies: POLICIES, timeout: 2)
ruby_turn(client, 0.5) # warm up: open, connect, JIT-free steady state
rubys = []
cs = []
c_lat = []
ruby_lat = []
turns.times do |i|
  ops, *lat = c_turn(capi, url, seconds)
  cs << ops
  c_lat << lat
  ops, *lat = ruby_turn(client, seconds)
  rubys << ops
  ruby_lat << lat
  printf("turn %d: C %.0f checks/s, Ruby %.0f checks/s (%.2fx); p50/p99 C %s / %s, Ruby %s / %s\n",
         i + 1, cs.last, rubys.last, rubys.last / cs.last, us(c_lat.last[0]), us(c_lat.last[1]),
         us(ruby_lat.last[0]), us(ruby_lat.last[1]))
end
# The leased policy, after a warm-up that takes every key's first lease.
ruby_turn(client, 0.5, "leased")
leased_c = []
leased_ruby = []
turns.times do
  leased_c << c_turn(capi, url, seconds, "leased")
  leased_ruby << ruby_turn(client, seconds, "leased")
end
client.close
median = ->(a) { a.sort[a.size / 2] }
c = median.call(cs)
r = median.call(rubys)
cpus = Etc.respond_to?(:nprocessors) ? Etc.nprocessors : 0
printf("median: C %.0f checks/s, Ruby %.0f checks/s, ratio %.2fx (target >= 0.80x) [%s, ruby %s, %d cpus]\n",
       c, r, r / c, RUBY_PLATFORM, RUBY_VERSION, cpus)
# Medians over the turns of each side's p50 and of its p99.
c50, c99 = median.call(c_lat.map(&:first)), median.call(c_lat.map(&:last))
r50, r99 = median.call(ruby_lat.map(&:first)), median.call(ruby_lat.map(&:last))
printf("median latency per check, p50 / p99: C %s / %s, Ruby %s / %s\n", us(c50), us(c99), us(r50), us(r99))
printf("\n#### Ruby (one thread) vs C (tk_check, one thread), Redis door (ruby %s, median of %d turns of %.1f s)\n\n",
       RUBY_VERSION, turns, seconds)
puts "| language | checks/s | p50 | p99 | vs C |", "| --- | ---: | ---: | ---: | ---: |"
printf("| C | %.0f/s | %s | %s | 1.00x |\n", c, us(c50), us(c99))
printf("| Ruby | %.0f/s | %s | %s | %.2fx |\n", r, us(r50), us(r99), r / c)
lc, lr = median.call(leased_c.map(&:first)), median.call(leased_ruby.map(&:first))
lc50, lc99 = median.call(leased_c.map { |t| t[1] }), median.call(leased_c.map { |t| t[2] })
lr50, lr99 = median.call(leased_ruby.map { |t| t[1] }), median.call(leased_ruby.map { |t| t[2] })
printf("\nleased policy (two-tier, batch 1,000): Ruby %.0f checks/s, C (1 thread) %.0f checks/s, Ruby / C %.2fx; " \
       "Ruby leased / Ruby plain %.2fx (listed, no target)\n", lr, lc, lr / lc, lr / r)
printf("\n#### Ruby (one thread) vs C (tk_check, one thread) on a leased two-tier gcra (batch 1,000) (ruby %s, median of %d turns of %.1f s)\n\n",
       RUBY_VERSION, turns, seconds)
puts "| language | checks/s | p50 | p99 | vs C | vs the same language on the plain policy |",
     "| --- | ---: | ---: | ---: | ---: | ---: |"
printf("| C | %.0f/s | %s | %s | 1.00x | %.2fx |\n", lc, us(lc50), us(lc99), lc / c)
printf("| Ruby | %.0f/s | %s | %s | %.2fx | %.2fx |\n", lr, us(lr50), us(lr99), lr / lc, lr / r)
exit(r / c >= 0.8 ? 0 : 1) if ENV["BENCH_ENFORCE"] == "1"
