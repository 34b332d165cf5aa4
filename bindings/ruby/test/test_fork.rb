# frozen_string_literal: true

require_relative "test_helper"

# Fork safety. Each scenario runs in a fresh interpreter (this test process has long since
# started the Go core, so none of its own children could use the library), which forks with
# Process.fork and reports every child's exit status from Process.wait2.
class TestFork < Minitest::Test
  include TKTest::Needs

  PRELUDE = <<~'RUBY'
    require "throttlekit"
    POLICIES = "limiters:\n  api: { strategy: gcra, limit: 1000, period: 1s, burst: 1000 }\n"
    def report(statuses) = puts(statuses.map { |s| s.exited? ? s.exitstatus : "signal #{s.termsig}" }.join(","))
  RUBY

  def run_scenario(body)
    out, err, status = run_ruby(PRELUDE + body, env: { "THROTTLEKIT_NS" => TKTest.namespace("fork") })
    assert status.success?, "scenario exit #{status.inspect}\nstdout: #{out}\nstderr: #{err}"
    out.lines.last.to_s.strip
  end

  def test_unused_parent_client_works_in_four_children
    url = redis_url
    result = run_scenario(<<~RUBY)
      c = ThrottleKit::Client.redis(#{url.inspect}, policies: POLICIES, namespace: ENV["THROTTLEKIT_NS"])
      pids = 4.times.map do |i|
        Process.fork do
          d = c.check("api", "child-\#{i}")
          c.close
          exit!(d.allowed? && d.limit == 1000 ? 0 : 3)
        rescue Exception => e
          $stderr.puts "child \#{i}: \#{e.class}: \#{e.message}"
          exit!(4)
        end
      end
      report(pids.map { |pid| Process.wait2(pid)[1] })
      # the parent still never used it, and can now
      exit(c.check("api", "parent").allowed? ? 0 : 5)
    RUBY
    assert_equal "0,0,0,0", result
  end

  def test_used_parent_client_raises_forked_promptly_in_children
    url = redis_url
    result = run_scenario(<<~RUBY)
      c = ThrottleKit::Client.redis(#{url.inspect}, policies: POLICIES, namespace: ENV["THROTTLEKIT_NS"])
      c.check("api", "parent")
      fresh = ThrottleKit::Client.redis(#{url.inspect}, policies: POLICIES)
      pids = 2.times.map do |i|
        Process.fork do
          t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
          begin
            (i.zero? ? c : fresh).check("api", "child")
            exit!(3)
          rescue ThrottleKit::Forked => e
            took = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t
            ok = e.message.include?("open or use clients only after fork") && e.is_a?(ThrottleKit::Error) &&
                 e.status == ThrottleKit::Native::E_FORKED && took < 0.5
            $stderr.puts "child \#{i}: \#{e.message} (\#{took} s)" unless ok
            c.close   # drops the parent's handle without calling the library
            c.close
            fresh.close
            exit!(ok ? 0 : 4)
          end
        rescue Exception => e
          $stderr.puts "child \#{i}: \#{e.class}: \#{e.message}"
          exit!(5)
        end
      end
      # a child that exits normally runs finalizers and at_exit: nothing may hang or crash
      pids << Process.fork { exit(0) }
      report(pids.map { |pid| Process.wait2(pid)[1] })
      exit(c.check("api", "parent").allowed? ? 0 : 6)
    RUBY
    assert_equal "0,0,0", result
  end

  def test_requiring_the_gem_starts_nothing
    out, err, status = run_ruby(<<~'RUBY')
      maps = -> { File.read("/proc/self/maps") }
      require "throttlekit"
      before = maps.call.include?("libthrottlekit-core")
      shim = maps.call.include?("libthrottlekit")
      ThrottleKit::Client.redis("redis://127.0.0.1:1/0", policies: "limiters:\n  api: { strategy: gcra, limit: 1, period: 1s }\n")
      constructed = maps.call.include?("libthrottlekit-core")
      ThrottleKit::Client.redis("redis://127.0.0.1:1/0", policies: "limiters:\n  api: { strategy: gcra, limit: 1, period: 1s }\n").open
      puts [shim, before, constructed, maps.call.include?("libthrottlekit-core")].inspect
    RUBY
    assert status.success?, err
    assert_equal "[true, false, false, true]", out.strip
  end
end
