# frozen_string_literal: true

require_relative "test_helper"

# Client#check_all, the same cases on every door that evaluates policies itself (the embedded
# engine, Redis). A test class includes this module and defines check_all_client (a block
# form: yields an open client over CHECK_ALL_POLICIES, closes it afterwards).
module CheckAllCases
  CHECK_ALL_POLICIES = <<~YAML
    limiters:
      sec: { strategy: fixedWindow, limit: 2, windowMs: 1s }
      day: { strategy: fixedWindow, limit: 3, windowMs: 1h }
      llm:
        tokenBudget: { budget: 100, windowMs: 1h }
  YAML
  T0 = 1_699_999_200_000 # a multiple of 1 h: both windows start here
  HOUR = 3_600_000

  def fresh(label)
    "#{label}-#{SecureRandom.hex(6)}"
  end

  # The window of the policy with that limit, among these tests' policies (sec, day, llm, and
  # test_memory's api, fw).
  WINDOWS = { 2 => 1000, 3 => HOUR, 5 => 1000, 100 => HOUR }.freeze

  def decision(allowed, limit, remaining, reset_at_ms, retry_after_ms)
    ThrottleKit::Decision.new(allowed: allowed, limit: limit, remaining: remaining,
                              reset_at_ms: reset_at_ms, retry_after_ms: retry_after_ms,
                              window_ms: WINDOWS.fetch(limit))
  end

  def test_check_all_consumes_all_or_none
    check_all_client do |c|
      ip = fresh("ip")
      acct = fresh("acct")
      r = c.check_all([["sec", ip], ["day", acct]], now_ms: T0)
      assert_kind_of ThrottleKit::CheckAllResult, r
      assert r.allowed?
      refute r.denied?
      assert_equal [decision(true, 2, 1, T0 + 1000, 0), decision(true, 3, 2, T0 + HOUR, 0)], r.decisions
      assert_equal [], r.denied_indexes
      assert_equal 0, r.retry_after_ms

      # A second address spends the account's last two units.
      r = c.check_all([["sec", fresh("ip")], ["day", acct, 2]], now_ms: T0)
      assert r.allowed?
      assert_equal [decision(true, 2, 1, T0 + 1000, 0), decision(true, 3, 0, T0 + HOUR, 0)], r.decisions

      # The account is spent: the address's limit, which allows, is not consumed either.
      ip3 = fresh("ip")
      r = c.check_all([["sec", ip3], ["day", acct]], now_ms: T0 + 10)
      refute r.allowed?
      assert r.denied?
      assert_equal [decision(true, 2, 1, T0 + 1000, 0), decision(false, 3, 0, T0 + HOUR, HOUR - 10)], r.decisions
      assert_equal [1], r.denied_indexes
      assert_equal HOUR - 10, r.retry_after_ms
      assert_in_delta (HOUR - 10) / 1000.0, r.retry_after, 1e-9
      assert_equal decision(true, 2, 2, T0 + 1000, 0), c.peek("sec", ip3, now_ms: T0 + 10)
      assert_equal decision(false, 3, 0, T0 + HOUR, HOUR - 10), c.peek("day", acct, now_ms: T0 + 10)
      assert_equal 2, r.size
      assert_equal r.decisions, r.to_a
      assert_equal r.decisions[1], r[1]
      assert r.frozen?
      assert r.decisions.frozen?
    end
  end

  def test_check_all_repeated_key_applies_in_order
    check_all_client do |c|
      k = fresh("dup")
      r = c.check_all([["sec", k], ["sec", k], ["sec", k]], now_ms: T0)
      refute r.allowed?
      assert_equal [decision(true, 2, 1, T0 + 1000, 0), decision(true, 2, 0, T0 + 1000, 0),
                    decision(false, 2, 0, T0 + 1000, 1000)], r.decisions
      assert_equal [2], r.denied_indexes
      assert_equal 2, c.peek("sec", k, now_ms: T0).remaining # the two that allowed: not consumed
      r = c.check_all([["sec", k], ["sec", k]], now_ms: T0)
      assert r.allowed?
      assert_equal [1, 0], r.map(&:remaining)
      refute c.peek("sec", k, now_ms: T0).allowed?
    end
  end

  def test_check_all_item_forms_are_equivalent
    check_all_client do |c|
      forms = [
        ->(a, b) { [["sec", a], ["day", b, 1]] },
        ->(a, b) { [{ policy: "sec", key: a }, { policy: :day, key: b, cost: 1 }] },
        ->(a, b) { [ThrottleKit::CheckItem.new(policy: "sec", key: a), ThrottleKit::CheckItem.new(policy: "day", key: b, cost: 0)] }
      ]
      # Fresh keys per form, at one instant: every form must give the same result.
      results = forms.map { |f| c.check_all(f.call(fresh("a"), fresh("b")), now_ms: T0) }
      results.each do |r|
        assert r.allowed?
        assert_equal [decision(true, 2, 1, T0 + 1000, 0), decision(true, 3, 2, T0 + HOUR, 0)], r.decisions
      end
      assert_equal [0], c.check_all([["sec", fresh("cost"), 2]], now_ms: T0).map(&:remaining)
    end
  end

  def test_check_all_at_and_the_live_clock
    check_all_client do |c|
      k = fresh("at")
      assert_equal c.check_all([["sec", "#{k}-1"]], now_ms: T0), c.check_all_at([["sec", "#{k}-2"]], T0)
      assert_equal c.check_all([["sec", "#{k}-3"]], now_ms: T0),
                   c.check_all_at([["sec", "#{k}-4"]], Time.at(T0 / 1000))
      assert_raises(ThrottleKit::InvalidArgument) { c.check_all_at([["sec", k]], nil) }
      before = (Time.now.to_r * 1000).floor
      r = c.check_all([["sec", k], ["day", k]])
      assert r.allowed?
      assert_equal [1, 2], r.map(&:remaining)
      assert_operator r[1].reset_at_ms, :>, before
      assert_operator r[1].reset_at_ms, :<=, before + HOUR + 5000
    end
  end

  def test_check_all_empty
    check_all_client do |c|
      r = c.check_all([])
      assert r.allowed?
      assert_equal [], r.decisions
      assert_equal 0, r.retry_after_ms
      assert_equal r, c.check_all([], now_ms: T0)
    end
  end

  def test_check_all_errors_name_the_item_and_consume_nothing
    check_all_client do |c|
      k = fresh("err")
      e = assert_raises(ThrottleKit::PolicyNotFound) { c.check_all([["sec", k], ["nope", k]], now_ms: T0) }
      assert_match(/\Aitems\[1\]: /, e.message)
      assert_equal ThrottleKit::Native::E_NOT_FOUND, e.status
      e = assert_raises(ThrottleKit::Unsupported) { c.check_all([["sec", k], ["llm", k]], now_ms: T0) }
      assert_match(/\Aitems\[1\]: /, e.message)
      e = assert_raises(ThrottleKit::InvalidArgument) { c.check_all([["sec", k], ["day", nil]], now_ms: T0) }
      assert_match(/\Aitems\[1\]: /, e.message)
      e = assert_raises(ThrottleKit::InvalidArgument) { c.check_all([["sec", k, -1]], now_ms: T0) }
      assert_match(/\Aitems\[0\]: /, e.message)
      assert_equal 2, c.peek("sec", k, now_ms: T0).remaining # none of the above consumed

      e = assert_raises(ThrottleKit::InvalidArgument) { c.check_all([["sec", "a\0b"]]) }
      assert_match(/\Aitems\[0\]: key contains a NUL/, e.message)
      e = assert_raises(ThrottleKit::InvalidArgument) { c.check_all([["sec", k], ["sec"]]) }
      assert_match(/\Aitems\[1\]: expected \[policy, key\]/, e.message)
      e = assert_raises(ThrottleKit::InvalidArgument) { c.check_all([{ policy: "sec", key: k, cots: 1 }]) }
      assert_match(/\Aitems\[0\]: unknown field :cots/, e.message)
      e = assert_raises(ThrottleKit::InvalidArgument) { c.check_all(["sec"]) }
      assert_match(/\Aitems\[0\]: expected an Array/, e.message)
      e = assert_raises(ThrottleKit::InvalidArgument) { c.check_all([["sec", k, "2"]]) }
      assert_match(/\Aitems\[0\]: cost must be an Integer/, e.message)
      assert_raises(ThrottleKit::InvalidArgument) { c.check_all("sec") }
      assert_raises(ThrottleKit::InvalidArgument) { c.check_all([["sec", k]], now_ms: 0) }
    end
  end
end
