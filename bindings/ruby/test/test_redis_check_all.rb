# frozen_string_literal: true

require_relative "test_helper"
require_relative "check_all_cases"

# Client#check_all through the Redis door ($THROTTLEKIT_REDIS_URL): one atomic script run.
class TestRedisCheckAll < Minitest::Test
  include TKTest::Needs
  include CheckAllCases

  def check_all_client(&block)
    ThrottleKit::Client.redis(redis_url, policies: CHECK_ALL_POLICIES, namespace: TKTest.namespace("all"),
                                         timeout: 2, &block)
  end

  # Many threads at once, two limits where the second denies half: the first limit's count
  # is exactly the number of calls that were allowed as a whole.
  def test_concurrent_calls_consume_all_or_none
    policies = "limiters:\n  first: { strategy: fixedWindow, limit: 1000, windowMs: 1h }\n" \
               "  second: { strategy: fixedWindow, limit: 40, windowMs: 1h }\n"
    ThrottleKit::Client.redis(redis_url, policies: policies, namespace: TKTest.namespace("race"), timeout: 2) do |c|
      k = fresh("race")
      allowed = Array.new(8) do
        Thread.new do
          Array.new(10) { c.check_all([["first", k], ["second", k]], now_ms: T0).allowed? }.count(true)
        end
      end.sum(&:value)
      assert_equal 40, allowed
      assert_equal 1000 - 40, c.peek("first", k, now_ms: T0).remaining
      refute c.peek("second", k, now_ms: T0).allowed?
    end
  end
end
