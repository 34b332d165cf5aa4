# frozen_string_literal: true

require_relative "test_helper"
require "rack"
require "rack/mock"

# ThrottleKit::Rack through Rack::MockRequest.
class TestRackMiddleware < Minitest::Test
  include TKTest::Needs

  POLICIES = "limiters:\n  api: { strategy: fixedWindow, limit: 2, windowMs: 1h }\n"
  APP = ->(_env) { [200, { "content-type" => "text/plain" }, ["ok"]] }

  def stack(client, **opts)
    Rack::MockRequest.new(Rack::Lint.new(ThrottleKit::Rack.new(Rack::Lint.new(APP), client: client, policy: "api", **opts)))
  end

  # A public (untrusted) peer address: Rack::Request#ip takes it as it is.
  def ip
    "198.51.#{rand(255)}.#{rand(1..254)}"
  end

  def test_admitted_then_429_with_headers
    ThrottleKit::Client.redis(redis_url, policies: POLICIES, namespace: TKTest.namespace("rack")) do |c|
      req = stack(c) # w= from the decision (window: is no longer needed)
      addr = ip
      r = req.get("/", "REMOTE_ADDR" => addr)
      assert_equal 200, r.status
      assert_equal "ok", r.body
      assert_equal '"api";q=2;w=3600', r.headers["ratelimit-policy"]
      assert_match(/\A"api";r=1;t=\d+\z/, r.headers["ratelimit"])
      t = r.headers["ratelimit"][/t=(\d+)/, 1].to_i
      assert_operator t, :<=, 3600
      assert_operator t, :>=, 1
      assert_equal 200, req.get("/", "REMOTE_ADDR" => addr).status
      r = req.get("/", "REMOTE_ADDR" => addr, "HTTP_X_FORWARDED_FOR" => "1.2.3.4")
      assert_equal 429, r.status
      assert_operator r.headers["retry-after"].to_i, :>=, 1
      assert_equal '"api";q=2;w=3600', r.headers["ratelimit-policy"]
      assert_match(/\A"api";r=0;t=\d+\z/, r.headers["ratelimit"])
      # another peer is independent; X-Forwarded-For from an untrusted peer is not the key
      other = ip
      other = ip while other == addr
      assert_equal 200, req.get("/", "REMOTE_ADDR" => other, "HTTP_X_FORWARDED_FOR" => addr).status
      # from a trusted proxy (a private address), the client X-Forwarded-For names is the key
      client = ip
      client = ip while [addr, other].include?(client)
      2.times { assert_equal 200, req.get("/", "REMOTE_ADDR" => "10.0.0.7", "HTTP_X_FORWARDED_FOR" => client).status }
      assert_equal 429, req.get("/", "REMOTE_ADDR" => "10.0.0.8", "HTTP_X_FORWARDED_FOR" => "#{client}, 10.0.0.9").status
    end
  end

  def t_of(resp)
    resp.headers["ratelimit"][/t=(\d+)/, 1].to_i
  end

  def test_key_and_cost_options
    ThrottleKit::Client.redis(redis_url, policies: POLICIES, namespace: TKTest.namespace("rack")) do |c|
      user = "user-#{SecureRandom.hex(4)}"
      req = stack(c, key: ->(request) { request.get_header("HTTP_X_USER") }, cost: ->(_request) { 2 })
      r = req.get("/", "HTTP_X_USER" => user)
      assert_equal 200, r.status
      assert_equal '"api";q=2;w=3600', r.headers["ratelimit-policy"] # the decision's window
      assert_equal 429, req.get("/", "HTTP_X_USER" => user).status
      # a nil key skips limiting
      r = req.get("/")
      assert_equal 200, r.status
      assert_nil r.headers["ratelimit"]
    end
  end

  def down_client(**opts)
    ThrottleKit::Client.redis("redis://127.0.0.1:#{dead_port}/0", policies: POLICIES, timeout: 0.3, **opts)
  end

  def test_redis_down_allow
    redis_url
    c = down_client
    r = stack(c, on_backend_error: :allow).get("/", "REMOTE_ADDR" => "10.0.0.1")
    assert_equal 200, r.status
    assert_nil r.headers["ratelimit"]
  ensure
    c&.close
  end

  def test_redis_down_reject
    redis_url
    c = down_client
    r = stack(c, on_backend_error: :reject).get("/", "REMOTE_ADDR" => "10.0.0.1")
    assert_equal 503, r.status
    assert_equal "1", r.headers["retry-after"]
  ensure
    c&.close
  end

  def test_redis_down_with_client_fail_modes
    redis_url
    open = down_client(fail_mode: :open)
    closed = down_client(fail_mode: :closed)
    r = stack(open, on_backend_error: :reject).get("/", "REMOTE_ADDR" => "10.0.0.1")
    assert_equal 200, r.status # a synthesized admission
    assert_nil r.headers["ratelimit"]
    r = stack(closed).get("/", "REMOTE_ADDR" => "10.0.0.1")
    assert_equal 429, r.status # a synthesized denial
    assert r.headers["retry-after"]
  ensure
    open&.close
    closed&.close
  end

  def test_programming_errors_are_not_swallowed
    ThrottleKit::Client.redis(redis_url, policies: POLICIES) do |c|
      req = Rack::MockRequest.new(ThrottleKit::Rack.new(APP, client: c, policy: "nope"))
      assert_raises(ThrottleKit::PolicyNotFound) { req.get("/", "REMOTE_ADDR" => "10.0.0.1") }
    end
    assert_raises(ArgumentError) { ThrottleKit::Rack.new(APP, client: Object.new, policy: "api") }
  end
  ADMIT_POLICIES = "limiters:\n  slots: { concurrency: { minLimit: 1, maxLimit: 1 } }\n"

  # admit: true holds the slot until the body is closed; a second request meanwhile is a
  # 429 naming the concurrency ceiling; after close the slot is free; a raising app frees it.
  def test_admit_holds_a_slot_until_the_body_is_closed
    ThrottleKit::Client.redis(redis_url, policies: ADMIT_POLICIES, namespace: TKTest.namespace("rack-admit")) do |c|
      mw = ThrottleKit::Rack.new(APP, client: c, policy: "slots", admit: true)
      env = { "REMOTE_ADDR" => "10.0.0.9" }
      status, headers, body = mw.call(env.dup)
      assert_equal 200, status
      assert_equal '"slots";q=1', headers["ratelimit-policy"]
      status2, headers2, = mw.call(env.dup)
      assert_equal 429, status2
      assert_equal "1", headers2["retry-after"]
      body.each { |chunk| assert_equal "ok", chunk }
      body.close
      assert c.admit("slots", "x").tap(&:release).allowed?, "closing the body released the slot"

      raising = ThrottleKit::Rack.new(->(_env) { raise "boom" }, client: c, policy: "slots", admit: true)
      assert_raises(RuntimeError) { raising.call(env.dup) }
      assert c.admit("slots", "x").tap(&:release).allowed?, "a raising app released the slot"

      req = Rack::MockRequest.new(Rack::Lint.new(ThrottleKit::Rack.new(Rack::Lint.new(APP), client: c,
                                                                       policy: "slots", admit: true)))
      2.times { assert_equal 200, req.get("/", "REMOTE_ADDR" => "10.0.0.9").status }
    end
  end
end
