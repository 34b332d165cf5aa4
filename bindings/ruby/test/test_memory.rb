# frozen_string_literal: true

require_relative "test_helper"
require_relative "check_all_cases"

# Client.memory: the embedded engine, nothing running. Needs no Redis, except the
# differential test, which compares it with the Redis door.
class TestMemory < Minitest::Test
  include TKTest::Needs
  include CheckAllCases

  POLICIES = <<~YAML
    limiters:
      api: { strategy: gcra, limit: 5, period: 1s, burst: 5 }
      fw: { strategy: fixedWindow, limit: 3, windowMs: 1h }
      tb: { strategy: tokenBucket, capacity: 4, refillPerSec: 2 }
      llm:
        tokenBudget: { budget: 100, windowMs: 1h }
  YAML
  T0 = CheckAllCases::T0

  def check_all_client(&block)
    ThrottleKit::Client.memory(policies: CHECK_ALL_POLICIES, &block)
  end

  def test_shadow_policy
    yaml = "limiters:\n  new: { strategy: fixedWindow, limit: 1, windowMs: 1h, shadow: true }\n"
    ThrottleKit::Client.memory(policies: yaml) do |c|
      refute c.check("new", "k").shadow?
      d = c.check("new", "k")
      assert d.allowed?
      assert d.shadow?
      assert_equal 0, d.remaining
      assert d.retry_after_ms.positive?
      assert_equal true, d.to_h[:shadow]
    end
  end

  def test_overrides
    yaml = "limiters:\n  tiers: { strategy: fixedWindow, limit: 2, windowMs: 1h, " \
           "overrides: { vip: unlimited, banned: deny, gold: { limit: 4 } } }\n" \
           "  plain: { strategy: fixedWindow, limit: 2, windowMs: 1h }\n"
    ThrottleKit::Client.memory(policies: yaml) do |c|
      3.times { assert c.check("tiers", "vip").override? }
      d = c.check("tiers", "banned")
      assert_equal [false, true, 0], [d.allowed?, d.override?, d.remaining]
      assert_equal 4, c.check("tiers", "gold").limit
      refute c.check("tiers", "x").override?
      assert_equal true, c.check("tiers", "vip").to_h[:override]
      c.set_override("tiers", "x", "deny")
      assert_equal [false, true], [c.check("tiers", "x").allowed?, c.check("tiers", "x").override?]
      c.clear_override("tiers", "x")
      refute c.check("tiers", "x").override?
      assert_raises(ThrottleKit::InvalidArgument) { c.set_override("tiers", "x", "limit=0") }
      assert_raises(ThrottleKit::Unsupported) { c.set_override("plain", "x", "deny") }
    end
  end

  def test_leased_policy_answers_locally
    yaml = "limiters:\n  leased: { strategy: fixedWindow, limit: 10, windowMs: 1h, twoTier: { batch: 5 } }\n"
    ThrottleKit::Client.memory(policies: yaml) do |c|
      first = c.check("leased", "k")
      assert_equal [true, 4, false], [first.allowed?, first.remaining, first.local?]
      second = c.check("leased", "k")
      assert_equal [true, 3, true], [second.allowed?, second.remaining, second.local?]
      assert_equal true, second.to_h[:local]
      err = assert_raises(ThrottleKit::Unsupported) { c.peek("leased", "k") }
      assert_match(/does not support peek/, err.message)
    end
  end

  def test_shadow_switch
    ThrottleKit::Client.memory(policies: POLICIES, shadow: true) do |c|
      3.times { c.check("fw", "sw") }
      d = c.check("fw", "sw")
      assert d.allowed?
      assert d.shadow?
      r = c.check_all([["fw", "sw"], ["fw", "sw2"]])
      assert r.allowed?
      assert_equal 2, c.peek("fw", "sw2").remaining # the item that allowed was consumed
    end
  end

  def test_refund_and_reset
    ThrottleKit::Client.memory(policies: POLICIES) do |c|
      c.check("fw", "r", cost: 3)
      refunded = c.refund("fw", "r", cost: 2)
      assert_equal [true, 3, 2], [refunded.allowed?, refunded.limit, refunded.remaining]
      assert_equal c.peek("fw", "r"), refunded
      assert_equal 3, c.refund("fw", "r", cost: 50).remaining # never beyond full
      c.debit("llm", "r", 30)
      assert_equal 80, c.refund("llm", "r", cost: 10).remaining
      c.check("fw", "r", cost: 3)
      assert_nil c.reset("fw", "r")
      assert_equal 3, c.peek("fw", "r").remaining
      assert_raises(ThrottleKit::PolicyNotFound) { c.refund("nope", "r") }
      assert_raises(ThrottleKit::InvalidArgument) { c.refund("fw", "r", cost: -1) }
      assert_raises(ThrottleKit::PolicyNotFound) { c.reset("nope", "r") }
    end
  end

  def test_door_and_every_operation
    ThrottleKit::Client.memory(policies: POLICIES) do |c|
      assert_equal :memory, c.door
      assert_equal "#<ThrottleKit::Client memory>", c.inspect
      5.times do |i|
        assert_equal decision(true, 5, 4 - i, T0 + 200 * (i + 1), 0), c.check("api", "k", now_ms: T0)
      end
      assert_equal decision(false, 5, 0, T0 + 1000, 200), c.check("api", "k", now_ms: T0)
      assert_equal decision(false, 5, 0, T0 + 1000, 200), c.peek("api", "k", now_ms: T0)
      assert_equal [decision(true, 3, 2, T0 + HOUR, 0), decision(true, 3, 1, T0 + HOUR, 0)],
                   c.check_many("fw", %w[m m], now_ms: T0)
      assert_equal decision(true, 100, 70, T0 + HOUR, 0), c.debit("llm", "u", 30, now_ms: T0)
      assert_equal 70, c.peek("llm", "u", now_ms: T0).remaining
      f = c.forecast("fw", "m", now_ms: T0)
      assert_equal 1, f.spendable_now
      assert_raises(ThrottleKit::Unsupported) { c.debit("api", "k", 1) }
      assert_raises(ThrottleKit::PolicyNotFound) { c.check("nope", "k") }
      assert c.check("tb", "live").allowed? # the process's clock
    end
  end

  def test_each_client_is_its_own_store
    a = ThrottleKit::Client.memory(policies: POLICIES)
    b = ThrottleKit::Client.memory(policies: POLICIES)
    3.times { a.check("fw", "shared", now_ms: T0) }
    refute a.check("fw", "shared", now_ms: T0).allowed?
    assert_equal decision(true, 3, 2, T0 + HOUR, 0), b.check("fw", "shared", now_ms: T0)
    a.close
    b.close
    # A closed client's store is gone with its handle; a new one starts empty.
    ThrottleKit::Client.memory(policies: POLICIES) do |c|
      assert_equal 2, c.check("fw", "shared", now_ms: T0).remaining
    end
    assert_raises(ThrottleKit::ClosedError) { a.check("fw", "shared") }
  end

  def test_policies_file_hash_and_errors
    Dir.mktmpdir do |dir|
      path = File.join(dir, "p.yaml")
      File.write(path, POLICIES)
      ThrottleKit::Client.memory(policies_file: path) do |c|
        assert_equal 4, c.check("api", "f", now_ms: T0).remaining
      end
    end
    h = { limiters: { api: { strategy: "gcra", limit: 2, period: "1s" } } }
    ThrottleKit::Client.memory(policies: h) do |c|
      assert_equal 1, c.check("api", "h", now_ms: T0).remaining
    end
    bad = ThrottleKit::Client.memory(policies: "limiters:\n  api: { strategy: gcra, limit: 5, burst: -3 }\n")
    e = assert_raises(ThrottleKit::ConfigError) { bad.check("api", "k") }
    refute_empty e.message
    assert_raises(ThrottleKit::ConfigError) { bad.open }
    bad.close
    e = assert_raises(ThrottleKit::ConfigError) { ThrottleKit::Client.memory(policies_file: "/nonexistent/p.yaml") }
    assert_match(%r{/nonexistent/p.yaml}, e.message)
    assert_raises(ThrottleKit::InvalidArgument) { ThrottleKit::Client.memory }
    assert_raises(ThrottleKit::InvalidArgument) { ThrottleKit::Client.memory(policies: POLICIES, policies_file: "x") }
    assert_raises(ThrottleKit::InvalidArgument) { ThrottleKit::Client.memory(policies: "a\0b") }
    assert_raises(ArgumentError) { ThrottleKit::Client.memory(policies: POLICIES, namespace: "ns") }
  end

  def test_threads_share_a_memory_client
    ThrottleKit::Client.memory(policies: "limiters:\n  n: { strategy: fixedWindow, limit: 1000, windowMs: 1h }\n") do |c|
      allowed = Array.new(8) do
        Thread.new { Array.new(50) { c.check("n", "t", now_ms: T0).allowed? }.count(true) }
      end.sum(&:value)
      assert_equal 400, allowed
      assert_equal 600, c.peek("n", "t", now_ms: T0).remaining
    end
  end

  # The same operations on the embedded engine and the Redis door: every field equal.
  def test_same_decisions_as_the_redis_door
    url = redis_url
    ops = [[:check, "api", 1], [:check, "api", 3], [:check, "api", 2], [:peek, "api"], [:forecast, "api", 1],
           [:check, "tb", 3], [:check, "tb", 2], [:forecast, "tb", 1], [:check, "fw", 2], [:check, "fw", 2],
           [:peek, "fw"], [:debit, "llm", 60], [:debit, "llm", 50], [:peek, "llm"],
           [:check_all, [["fw", "x"], ["tb", "y", 2]]], [:check_all, [["fw", "x", 2], ["tb", "y", 1]]]]
    mem = ThrottleKit::Client.memory(policies: POLICIES)
    red = ThrottleKit::Client.redis(url, policies: POLICIES, namespace: TKTest.namespace("diff"), timeout: 2)
    key = "diff-#{SecureRandom.hex(4)}"
    [0, 150, 900, 3_700_000].each do |dt|
      ops.each do |op, *args|
        now = T0 + dt
        run = lambda do |c|
          case op
          when :check then c.check(args[0], key, cost: args[1], now_ms: now)
          when :peek then c.peek(args[0], key, now_ms: now)
          when :forecast then c.forecast(args[0], key, cost: args[1], now_ms: now)
          when :debit then c.debit(args[0], key, args[1], now_ms: now)
          when :check_all then c.check_all(args[0].map { |p, k, n| [p, "#{key}-#{k}", n] }, now_ms: now)
          end
        end
        assert_equal run.call(red), run.call(mem), "#{op} #{args.inspect} at T0+#{dt}"
      end
    end
  ensure
    mem&.close
    red&.close
  end

  def test_forked_workers_each_get_their_own_store
    out, err, status = run_ruby(<<~'RUBY')
      require "throttlekit"
      c = ThrottleKit::Client.memory(policies: "limiters:\n  fw: { strategy: fixedWindow, limit: 2, windowMs: 1h }\n")
      pids = 3.times.map do
        Process.fork do
          a = c.check("fw", "same")
          b = c.check("fw", "same")
          d = c.check("fw", "same")
          exit!(a.remaining == 1 && b.remaining == 0 && !d.allowed? ? 0 : 3)
        rescue Exception => e
          $stderr.puts "#{e.class}: #{e.message}"
          exit!(4)
        end
      end
      codes = pids.map { |pid| Process.wait2(pid)[1].exitstatus }
      # the parent never used it before the forks: its own store starts full too
      parent = c.check("fw", "same").remaining
      c2 = ThrottleKit::Client.memory(policies: "limiters:\n  fw: { strategy: fixedWindow, limit: 2, windowMs: 1h }\n")
      child = Process.fork do
        c2.check("fw", "x")
        exit!(3)
      rescue ThrottleKit::Forked
        exit!(0)
      rescue Exception
        exit!(4)
      end
      puts [*codes, parent, Process.wait2(child)[1].exitstatus].join(",")
    RUBY
    assert status.success?, "stdout: #{out}\nstderr: #{err}"
    assert_equal "0,0,0,1,0", out.lines.last.to_s.strip
  end

  def test_constructing_starts_nothing
    out, err, status = run_ruby(<<~'RUBY')
      core = -> { File.read("/proc/self/maps").include?("libthrottlekit-core") }
      require "throttlekit"
      c = ThrottleKit::Client.memory(policies: "limiters:\n  a: { strategy: gcra, limit: 1, period: 1s }\n")
      before = core.call
      c.open
      puts [before, core.call].inspect
    RUBY
    assert status.success?, err
    assert_equal "[false, true]", out.strip
  end
end
