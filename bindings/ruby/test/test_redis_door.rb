# frozen_string_literal: true

require_relative "test_helper"

# The Redis door against a real Redis ($THROTTLEKIT_REDIS_URL).
class TestRedisDoor < Minitest::Test
  include TKTest::Needs

  POLICIES = <<~YAML
    limiters:
      api: { strategy: gcra, limit: 5, period: 1s, burst: 5 }
      fw: { strategy: fixedWindow, limit: 3, windowMs: 1h }
      llm:
        tokenBudget: { budget: 100, windowMs: 1h }
  YAML
  T0 = 1_700_000_000_000 # an explicit clock, a multiple of 1 h

  def client(**opts, &block)
    ThrottleKit::Client.redis(redis_url, policies: POLICIES, namespace: TKTest.namespace("redis"),
                                         timeout: 2, **opts, &block)
  end

  def key(label)
    "#{label}-#{SecureRandom.hex(6)}"
  end

  # ---- golden vectors ------------------------------------------------------------------

  def options_yaml(options)
    options.map { |k, v| "#{k}: #{v.is_a?(Float) && v == v.floor ? v.to_i : v}" }.join(", ")
  end

  def test_golden_vectors
    url = redis_url
    vectors = golden_vectors
    replayed = 0
    suites = Hash.new(0)
    vectors.fetch("suites").each do |suite|
      kind = suite["primitive"]
      next unless %w[rateLimit tokenBudget].include?(kind)

      budget = kind == "tokenBudget"
      yaml = if budget
               o = suite.fetch("options")
               "limiters:\n  p:\n    tokenBudget: { budget: #{o['budget']}, windowMs: #{o['windowMs']} }\n"
             else
               s = suite.fetch("strategy")
               "limiters:\n  p: { strategy: #{s['kind']}, #{options_yaml(s['options'])} }\n"
             end
      offset = budget ? 3_600_000 : 1000
      ThrottleKit::Client.redis(url, policies: yaml, namespace: TKTest.namespace("golden")) do |c|
        k = "#{suite['name']}/#{suite['key'] || 'k'}/#{SecureRandom.hex(4)}"
        suite.fetch("ops").each_with_index do |op, i|
          now = op.fetch("now") + offset
          d = budget ? c.debit("p", k, op.fetch("tokens"), now_ms: now) : c.check("p", k, cost: op.fetch("cost"), now_ms: now)
          e = op.fetch("expect")
          where = "#{suite['name']} op ##{i} (now #{op['now']})"
          assert_equal e["allowed"], d.allowed?, "#{where}: allowed"
          assert_equal e["limit"], d.limit, "#{where}: limit"
          assert_equal e["remaining"], d.remaining, "#{where}: remaining"
          assert_equal e["resetAt"] + offset, d.reset_at_ms, "#{where}: resetAt"
          assert_equal e["retryAfterMs"], d.retry_after_ms, "#{where}: retryAfterMs"
          refute d.synthesized?, where
          replayed += 1
        end
      end
      suites[kind] += 1
    end
    assert_operator suites["rateLimit"], :>=, 1
    assert_operator suites["tokenBudget"], :>=, 1
    assert_operator replayed, :>=, 10
  end

  # ---- every operation ---------------------------------------------------------------------

  def test_check_burst_then_deny
    client do |c|
      k = key("burst")
      5.times do |i|
        d = c.check("api", k, now_ms: T0)
        assert d.allowed?, "check #{i}"
        assert_equal 5, d.limit
        assert_equal 4 - i, d.remaining
      end
      d = c.check("api", k, now_ms: T0)
      refute d.allowed?
      assert d.denied?
      assert_equal 200, d.retry_after_ms
      assert_in_delta 0.2, d.retry_after, 1e-9
      assert_kind_of Float, d.retry_after
      assert_equal T0 + 1000, d.reset_at_ms
      assert_equal Time.at(1_700_000_001), d.reset_at
      assert_kind_of Time, d.reset_at
      assert d.frozen?
      refute d.synthesized?
      assert_raises(FrozenError) { d.instance_variable_set(:@limit, 1) }
      # A Time works as the clock too; server clock without now_ms:
      assert c.check("api", key("t"), now_ms: Time.at(1_700_000_000)).allowed?
      assert c.check("api", key("live")).allowed?
    end
  end

  def test_check_cost_and_zero_cost
    client do |c|
      k = key("cost")
      assert_equal 2, c.check("api", k, cost: 3, now_ms: T0).remaining
      assert_equal 1, c.check("api", k, cost: 0, now_ms: T0).remaining # 0 means 1
      refute c.check("api", k, cost: 2, now_ms: T0).allowed?
    end
  end

  def test_check_many_order_duplicates_and_empty
    client do |c|
      a = key("a")
      b = key("b")
      ds = c.check_many("api", [a, b, a, a], now_ms: T0)
      assert_equal 4, ds.size
      assert_equal [4, 4, 3, 2], ds.map(&:remaining)
      assert(ds.all?(&:allowed?))
      assert_equal [], c.check_many("api", [], now_ms: T0)
      assert_equal [], c.check_many("api", [])
      live = c.check_many("api", [key("x"), key("y")], cost: 2)
      assert_equal [3, 3], live.map(&:remaining)
      assert_raises(ThrottleKit::InvalidArgument) { c.check_many("api", [a, nil]) }
      assert_raises(ThrottleKit::InvalidArgument) { c.check_many("api", "notalist") }
      assert_raises(ThrottleKit::PolicyNotFound) { c.check_many("nope", [a]) }
    end
  end

  def test_peek_consumes_nothing
    client do |c|
      k = key("peek")
      c.check("api", k, now_ms: T0)
      p1 = c.peek("api", k, now_ms: T0)
      p2 = c.peek("api", k, now_ms: T0)
      assert_equal p1, p2
      assert_equal 4, p1.remaining # the state now: nothing consumed by the peeks
      assert_equal 3, c.check("api", k, now_ms: T0).remaining
      assert_kind_of ThrottleKit::Decision, c.peek("api", k)
    end
  end

  def test_forecast
    client do |c|
      k = key("fc")
      c.check("api", k, cost: 2, now_ms: T0)
      f = c.forecast("api", k, now_ms: T0)
      assert_kind_of ThrottleKit::Forecast, f
      assert f.frozen?
      assert_equal 3, f.spendable_now
      assert_operator f.full_at_ms, :>, T0
      assert_kind_of Time, f.full_at
      assert_kind_of Time, f.next_replenish_at
      assert_equal 1, c.forecast("api", k, cost: 2, now_ms: T0).spendable_now
      assert_kind_of ThrottleKit::Forecast, c.forecast("api", k)
    end
  end

  # A quota (spec quota.md, example 4): a calendar day at UTC-5, through the policy file alone.
  def test_quota_calendar_day
    yaml = "limiters:\n  nightly: { strategy: quota, limit: 2, resetCadence: calendar-day, offsetMinutes: -300 }\n"
    ThrottleKit::Client.redis(redis_url, policies: yaml, namespace: TKTest.namespace("quota")) do |c|
      k = key("quota")
      d = c.check("nightly", k, now_ms: 1_710_045_000_000)
      assert_equal [true, 2, 1, 1_710_046_800_000, 0], [d.allowed?, d.limit, d.remaining, d.reset_at_ms, d.retry_after_ms]
      c.check("nightly", k, now_ms: 1_710_045_900_000)
      d = c.check("nightly", k, now_ms: 1_710_046_200_000)
      assert_equal [false, 0, 1_710_046_800_000, 600_000], [d.allowed?, d.remaining, d.reset_at_ms, d.retry_after_ms]
      assert_equal 0, c.peek("nightly", k, now_ms: 1_710_046_200_000).remaining
      assert_equal 1_710_046_800_000, c.forecast("nightly", k, now_ms: 1_710_046_200_000).full_at_ms
      d = c.check("nightly", k, now_ms: 1_710_046_800_000) # local midnight: a new day
      assert_equal [true, 1, 1_710_133_200_000], [d.allowed?, d.remaining, d.reset_at_ms]
    end
  end

  def test_debit_and_peek_on_a_budget
    client do |c|
      k = key("llm")
      d = c.debit("llm", k, 60, now_ms: T0)
      assert d.allowed?
      assert_equal 100, d.limit
      assert_equal 40, d.remaining
      assert_equal 40, c.peek("llm", k, now_ms: T0).remaining
      assert c.debit("llm", k, 50, now_ms: T0).allowed? # crossing: counted, then spent
      refute c.debit("llm", k, 1, now_ms: T0).allowed?
      assert_kind_of ThrottleKit::Decision, c.debit("llm", key("live"), 1)
    end
  end

  def test_keys_are_bytes
    client do |c|
      k1 = "\xff\xfe-#{SecureRandom.hex(4)}".b
      k2 = "#{k1}x".b
      utf = "ключ-#{SecureRandom.hex(4)}"
      3.times { c.check("api", k1, now_ms: T0) }
      assert_equal 1, c.check("api", k1, now_ms: T0).remaining
      assert_equal 4, c.check("api", k2, now_ms: T0).remaining
      assert_equal 4, c.check("api", utf, now_ms: T0).remaining
      # UTF-16 bytes hold NULs: refused, never truncated
      assert_raises(ThrottleKit::InvalidArgument) { c.check("api", utf.encode("UTF-16LE"), now_ms: T0) }
      assert_equal 4, c.check("api", :"sym-#{SecureRandom.hex(4)}", now_ms: T0).remaining
      assert c.check("api", "", now_ms: T0).allowed? # 0 bytes is a key too
    end
  end

  # ---- errors ------------------------------------------------------------------------------

  def test_bad_input_raises_the_right_errors
    client do |c|
      e = assert_raises(ThrottleKit::InvalidArgument) { c.check("api", nil) }
      assert_match(/key/i, e.message)
      assert_equal ThrottleKit::Native::E_INVALID, e.status
      e = assert_raises(ThrottleKit::InvalidArgument) { c.check("api", "a\0b") }
      assert_match(/NUL/, e.message)
      assert_raises(ThrottleKit::InvalidArgument) { c.check("api\0x", "a") }
      e = assert_raises(ThrottleKit::InvalidArgument) { c.check("api", "k", cost: -1) }
      assert_match(/negative/, e.message)
      assert_raises(ThrottleKit::InvalidArgument) { c.check("api", "k", cost: 2**53) }
      assert_raises(ThrottleKit::InvalidArgument) { c.check("api", "k", cost: 2**64) }
      assert_raises(ThrottleKit::InvalidArgument) { c.check("api", "k", cost: 1.5) }
      assert_raises(ThrottleKit::InvalidArgument) { c.check("api", "k", cost: nil) }
      assert_raises(ThrottleKit::InvalidArgument) { c.check("api", 42) }
      assert_raises(ThrottleKit::InvalidArgument) { c.check(nil, "k") }
      assert_raises(ThrottleKit::InvalidArgument) { c.check("", "k") }
      assert_raises(ThrottleKit::InvalidArgument) { c.check("api", "x" * 4097) }
      assert_raises(ThrottleKit::InvalidArgument) { c.check("api", "x" * (1 << 20)) }
      assert c.check("api", "x" * 4096, now_ms: T0).allowed?
      assert_raises(ThrottleKit::InvalidArgument) { c.check("api", "k", now_ms: 0) }
      assert_raises(ThrottleKit::InvalidArgument) { c.check("api", "k", now_ms: -5) }
      assert_raises(ThrottleKit::InvalidArgument) { c.debit("llm", "k", -1) }
      # and the client still works
      assert c.check("api", key("after"), now_ms: T0).allowed?
    end
  end

  def test_policy_errors
    client do |c|
      e = assert_raises(ThrottleKit::PolicyNotFound) { c.check("nope", "k") }
      assert_match(/nope/, e.message)
      assert_equal ThrottleKit::Native::E_NOT_FOUND, e.status
      e = assert_raises(ThrottleKit::Unsupported) { c.debit("api", "k", 1) }
      assert_match(/token-budget/, e.message)
      assert_raises(ThrottleKit::Unsupported) { c.check("llm", "k") }
      assert_raises(ThrottleKit::Unsupported) { c.forecast("llm", "k") }
      assert_raises(ThrottleKit::Unsupported) { c.check_many("llm", ["k"]) }
      assert_kind_of ThrottleKit::Error, e
    end
  end

  def test_config_errors_at_open
    bad = ThrottleKit::Client.redis(redis_url, policies: "limiters:\n  api: { strategy: gcra, limit: 5, burst: -3 }\n")
    e = assert_raises(ThrottleKit::ConfigError) { bad.check("api", "k") }
    refute_empty e.message
    assert_raises(ThrottleKit::ConfigError) { bad.open } # every use says so again
    bad.close
    e = assert_raises(ThrottleKit::ConfigError) do
      ThrottleKit::Client.redis(redis_url, policies_file: "/nonexistent/policies.yaml")
    end
    assert_match(%r{/nonexistent/policies.yaml}, e.message)
    assert_raises(ThrottleKit::InvalidArgument) { ThrottleKit::Client.redis(redis_url) }
    assert_raises(ThrottleKit::InvalidArgument) do
      ThrottleKit::Client.redis(redis_url, policies: POLICIES, policies_file: "x")
    end
    e = assert_raises(ThrottleKit::InvalidArgument) do
      ThrottleKit::Client.redis("bogus://what", policies: POLICIES).open
    end
    refute_empty e.message
    assert_raises(ThrottleKit::InvalidArgument) { ThrottleKit::Client.redis(nil, policies: POLICIES) }
    assert_raises(ThrottleKit::InvalidArgument) { ThrottleKit::Client.redis(redis_url, policies: POLICIES, fail_mode: :maybe) }
    assert_raises(ThrottleKit::InvalidArgument) { ThrottleKit::Client.redis(redis_url, policies: POLICIES, timeout: -1) }
  end

  def test_policies_file_and_hash
    Dir.mktmpdir do |dir|
      path = File.join(dir, "p.yaml")
      File.write(path, POLICIES)
      ThrottleKit::Client.redis(redis_url, policies_file: path, namespace: TKTest.namespace("file")) do |c|
        assert_equal 4, c.check("api", key("f"), now_ms: T0).remaining
      end
    end
    h = { limiters: { api: { strategy: "gcra", limit: 2, period: "1s" } } }
    ThrottleKit::Client.redis(redis_url, policies: h, namespace: TKTest.namespace("hash")) do |c|
      assert_equal 1, c.check("api", key("h"), now_ms: T0).remaining
    end
  end

  def test_namespace_separates_keys
    k = key("ns")
    ThrottleKit::Client.redis(redis_url, policies: POLICIES, namespace: TKTest.namespace("ns1")) do |c|
      c.check("api", k, cost: 4, now_ms: T0)
      assert_equal 0, c.check("api", k, now_ms: T0).remaining
    end
    ThrottleKit::Client.redis(redis_url, policies: POLICIES, namespace: TKTest.namespace("ns2")) do |c|
      assert_equal 4, c.check("api", k, now_ms: T0).remaining
    end
  end

  def test_closed_client_and_block_form
    c = client
    assert c.check("api", key("c")).allowed?
    assert_nil c.close
    assert_nil c.close # idempotent
    assert c.closed?
    e = assert_raises(ThrottleKit::Error) { c.check("api", "k") }
    assert_kind_of ThrottleKit::ClosedError, e
    assert_raises(ThrottleKit::Error) { c.peek("api", "k") }
    assert_raises(ThrottleKit::Error) { c.check_many("api", ["k"]) }
    assert_raises(ThrottleKit::Error) { c.forecast("api", "k") }
    assert_raises(ThrottleKit::Error) { c.debit("llm", "k", 1) }
    never_used = client
    never_used.close
    assert_raises(ThrottleKit::ClosedError) { never_used.check("api", "k") }

    kept = nil
    value = client do |bc|
      kept = bc
      bc.check("api", key("blk")).remaining
    end
    assert_equal 4, value
    assert kept.closed?
    kept2 = nil
    assert_raises(RuntimeError) do
      client do |bc|
        kept2 = bc
        raise "boom"
      end
    end
    assert kept2.closed?
  end

  def test_threads_share_a_client
    client do |c|
      k = key("threads")
      results = Array.new(4) { Thread.new { Array.new(10) { c.check("api", k, now_ms: T0).allowed? } } }.flat_map(&:value)
      assert_equal 5, results.count(true)
      assert_equal 35, results.count(false)
    end
  end

  # ---- a Redis that is down ----------------------------------------------------------------

  def down_url
    "redis://127.0.0.1:#{dead_port}/0"
  end

  def test_redis_down_fail_modes
    redis_url # CI: infrastructure expectations alike
    url = down_url
    ThrottleKit::Client.redis(url, policies: POLICIES, timeout: 0.3) do |c|
      t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      e = assert_raises(ThrottleKit::Unavailable, ThrottleKit::Timeout) { c.check("api", "k") }
      assert_operator Process.clock_gettime(Process::CLOCK_MONOTONIC) - t, :<, 2
      refute_empty e.message
      assert_raises(ThrottleKit::Unavailable, ThrottleKit::Timeout) { c.peek("api", "k") }
    end
    ThrottleKit::Client.redis(url, policies: POLICIES, timeout: 0.3, fail_mode: :open) do |c|
      d = c.check("api", "k")
      assert d.allowed?
      assert d.synthesized?
      assert_nil d.reset_at
      assert(c.check_many("api", %w[a b]).all? { |x| x.allowed? && x.synthesized? })
      r = c.check_all([["api", "a"], ["fw", "b"]])
      assert r.allowed?
      assert_equal [[true, true, 5], [true, true, 3]], r.map { |x| [x.allowed?, x.synthesized?, x.limit] }
    end
    ThrottleKit::Client.redis(url, policies: POLICIES, timeout: 0.3, fail_mode: :closed) do |c|
      d = c.check("api", "k")
      refute d.allowed?
      assert d.synthesized?
      r = c.check_all([["api", "a"], ["fw", "b"]])
      refute r.allowed?
      assert_equal [0, 1], r.denied_indexes
      assert r.all?(&:synthesized?)
    end
  end

  def test_silent_redis_times_out
    redis_url
    server = TCPServer.new("127.0.0.1", 0)
    conns = []
    acceptor = Thread.new { loop { conns << server.accept } }
    ThrottleKit::Client.redis("redis://127.0.0.1:#{server.addr[1]}/0", policies: POLICIES, timeout: 0.3) do |c|
      t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      e = assert_raises(ThrottleKit::Timeout) { c.check("api", "k") }
      assert_operator Process.clock_gettime(Process::CLOCK_MONOTONIC) - t, :<, 2
      assert_equal ThrottleKit::Native::E_TIMEOUT, e.status
    end
  ensure
    acceptor&.kill
    conns&.each(&:close)
    server&.close
  end

  def test_auth_error_from_redis
    url = redis_url
    bad = url.sub(%r{\Aredis://(?:[^@/]*@)?}, "redis://nobody:wrong-password@")
    ThrottleKit::Client.redis(bad, policies: POLICIES, timeout: 1) do |c|
      e = assert_raises(ThrottleKit::AuthError) { c.check("api", "k") }
      refute_includes e.message, "wrong-password"
    end
  end
end
