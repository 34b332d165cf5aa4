# frozen_string_literal: true

require_relative "test_helper"
require "rack"
require "rack/mock"
require "logger"
require "stringio"
require "active_support"
require "active_support/notifications"

# ThrottleKit::Rack's options on the memory door (no Redis): header styles, the responder,
# rules, match: :all, events, shadow logging, window: and ThrottleKit::Testing.
class TestRackOptions < Minitest::Test
  include TKTest::Needs

  POLICIES = <<~YAML
    limiters:
      api: { strategy: fixedWindow, limit: 2, windowMs: 1m }
      login: { strategy: fixedWindow, limit: 1, windowMs: 1h }
      day: { strategy: fixedWindow, limit: 3, windowMs: 1d }
  YAML
  APP = ->(_env) { [200, { "content-type" => "text/plain" }, ["ok"]] }

  def setup
    @client = ThrottleKit::Client.memory(policies: POLICIES)
  end

  def teardown
    @client.close
  end

  def stack(**opts)
    opts = { client: @client, policy: "api" }.merge(opts)
    Rack::MockRequest.new(Rack::Lint.new(ThrottleKit::Rack.new(Rack::Lint.new(APP), **opts)))
  end

  def get(req, path = "/", ip: "203.0.113.5", method: "GET", **env)
    req.request(method, path, { "REMOTE_ADDR" => ip }.merge(env))
  end

  def test_each_style_on_admissions_and_rejections
    { ietf: %w[ratelimit ratelimit-policy], triple: %w[ratelimit-limit ratelimit-remaining ratelimit-reset],
      legacy: %w[x-ratelimit-limit x-ratelimit-remaining x-ratelimit-reset], off: [] }.each do |style, names|
      req = stack(headers: style)
      ip = "203.0.113.#{rand(1..254)}"
      r1 = get(req, ip: "#{ip}-#{style}")
      assert_equal 200, r1.status
      names.each { |n| assert r1.headers[n], "#{style}: #{n}" }
      get(req, ip: "#{ip}-#{style}")
      r3 = get(req, ip: "#{ip}-#{style}")
      assert_equal 429, r3.status
      assert_equal "Too Many Requests\n", r3.body
      names.each { |n| assert r3.headers[n], "#{style} rejection: #{n}" }
      style == :off ? assert_nil(r3.headers["retry-after"]) : assert_operator(r3.headers["retry-after"].to_i, :>=, 1)
    end
    r = get(stack(headers: :triple), ip: "203.0.113.200")
    assert_equal %w[2 1], [r.headers["ratelimit-limit"], r.headers["ratelimit-remaining"]]
    assert_includes 1..60, r.headers["ratelimit-reset"].to_i # fixed windows end on the minute
    assert_raises(ArgumentError) { stack(headers: :gcra) }
  end

  def test_responder_gets_request_and_decision_and_headers_are_added
    seen = nil
    responder = lambda do |request, decision|
      seen = [request.path, decision]
      [503, { "content-type" => "application/json", "retry-after" => "99" }, ['{"error":"slow down"}']]
    end
    req = stack(responder: responder, headers: :legacy)
    2.times { get(req, "/x") }
    r = get(req, "/x")
    assert_equal 503, r.status
    assert_equal '{"error":"slow down"}', r.body
    assert_equal "99", r.headers["retry-after"], "the responder's own header is kept"
    assert_equal "0", r.headers["x-ratelimit-remaining"]
    assert_equal "/x", seen[0]
    assert seen[1].denied?
  end

  def test_rules_first_match
    rules = [
      { path: "/login", methods: %w[POST], policy: "login", key: ->(r) { r.params["user"] } },
      { path: %r{\A/api/}, headers: :triple },
      { if: ->(r) { r.get_header("HTTP_X_LIMIT_ME") }, policy: "day" }
    ]
    req = stack(rules: rules)
    assert_equal 200, get(req, "/login?user=ann", method: "POST").status
    assert_equal 429, get(req, "/login?user=ann", method: "POST").status
    assert_equal 200, get(req, "/login?user=bob", method: "POST").status
    r = get(req, "/login?user=ann") # GET: no rule
    assert_equal 200, r.status
    assert_nil r.headers["ratelimit"]
    assert_nil get(req, "/loginx", method: "POST").headers["ratelimit"], "a prefix matches whole segments"
    r = get(req, "/api/v1")
    assert_equal "2", r.headers["ratelimit-limit"]
    assert_nil r.headers["ratelimit"]
    r = get(req, "/other", "HTTP_X_LIMIT_ME" => "1")
    assert_equal '"day";q=3;w=86400', r.headers["ratelimit-policy"]
    assert_nil get(req, "/other").headers["ratelimit"], "no rule matched: not limited"
    r = get(req, "/login", method: "POST", "HTTP_X_LIMIT_ME" => "1")
    assert_nil r.headers["ratelimit"], "the first match's nil key: not limited (no fall-through)"
    assert_raises(ArgumentError) { stack(rules: [{ pth: "/" }]) }
    assert_raises(ArgumentError) { stack(policy: nil, rules: [{ path: "/" }]) }
  end

  # match: :all checks every matching rule at once (check_all): all or nothing, the ietf
  # members in rule order, the tightest in triple.
  def test_rules_all_match_with_check_all
    rules = [{ path: "/" }, { path: "/login", policy: "login" }]
    req = stack(rules: rules, match: :all, headers: :all)
    r = get(req, "/login")
    assert_equal 200, r.status
    assert_equal '"api";q=2;w=60, "login";q=1;w=3600', r.headers["ratelimit-policy"]
    assert_match(/\A"api";r=1;t=\d+, "login";r=0;t=\d+\z/, r.headers["ratelimit"])
    assert_equal "1", r.headers["ratelimit-limit"], "the fewest remaining: login"
    r = get(req, "/login")
    assert_equal 429, r.status
    assert_operator r.headers["retry-after"].to_i, :>=, 1
    assert_match(/"login";r=0;t=/, r.headers["ratelimit"])
    # nothing was consumed by the denied check_all: api has 1 left
    assert_equal 200, get(req, "/home").status
    assert_equal 429, get(req, "/home").status
  end

  def test_events
    events = []
    sub = ActiveSupport::Notifications.subscribe(/\.throttlekit\z/) do |name, _s, _f, _id, payload|
      events << [name, payload[:policy], payload[:key], payload[:decision]&.allowed?]
    end
    req = stack(key: ->(r) { r.get_header("HTTP_X_USER") })
    3.times { get(req, "HTTP_X_USER" => "u1") }
    get(req) # no key: no check, no event
    assert_equal [["check.throttlekit", "api", "u1", true], ["check.throttlekit", "api", "u1", true],
                  ["check.throttlekit", "api", "u1", false], ["throttled.throttlekit", "api", "u1", false]], events
  ensure
    ActiveSupport::Notifications.unsubscribe(sub) if sub
  end

  # A backend error: every check's event carries the exception, no decision; the request
  # passes (on_backend_error: :allow) or gets a 503 (:reject).
  def test_events_on_backend_errors
    events = []
    sub = ActiveSupport::Notifications.subscribe("check.throttlekit") do |*, payload|
      events << [payload[:policy], payload[:exception]&.first, payload.key?(:decision)]
    end
    dead = ThrottleKit::Client.redis("redis://127.0.0.1:#{dead_port}/0", policies: POLICIES, timeout: 0.2)
    all = stack(client: dead, rules: [{ path: "/" }, { path: "/login", policy: "login" }], match: :all)
    assert_equal 200, get(all, "/login").status
    assert_equal [["api", "ThrottleKit::Unavailable", false], ["login", "ThrottleKit::Unavailable", false]], events
    events.clear
    assert_equal 503, get(stack(client: dead, on_backend_error: :reject)).status
    assert_equal [["api", "ThrottleKit::Unavailable", false]], events
  ensure
    ActiveSupport::Notifications.unsubscribe(sub) if sub
    dead&.close
  end

  def test_events_need_no_active_support
    out, err, status = run_ruby(<<~RUBY, env: { "THROTTLEKIT_LIB" => ENV["THROTTLEKIT_LIB"].to_s })
      require "throttlekit"
      require "rack/mock"
      c = ThrottleKit::Client.memory(policies: #{POLICIES.dump})
      req = Rack::MockRequest.new(ThrottleKit::Rack.new(->(_e) { [200, {}, ["ok"]] }, client: c, policy: "login"))
      puts [req.get("/").status, req.get("/").status, defined?(ActiveSupport).inspect].join(" ")
    RUBY
    assert status.success?, err
    assert_equal "200 429 nil", out.strip
  end

  def test_shadow_denials_are_logged
    io = StringIO.new
    shadow = ThrottleKit::Client.memory(policies: POLICIES, shadow: true)
    req = stack(client: shadow, policy: "login", logger: Logger.new(io), headers: :triple)
    assert_equal 200, get(req, "HTTP_X" => "1").status
    r = get(req)
    assert_equal 200, r.status, "a shadow denial is admitted"
    assert_equal "0", r.headers["ratelimit-remaining"]
    assert_nil r.headers["retry-after"]
    lines = io.string.lines
    assert_equal 1, lines.size, io.string
    assert_match(/shadow denial admitted policy="login" key="203.0.113.5" limit=1 remaining=0/, lines.first)
  ensure
    shadow&.close
  end

  def test_window_option_fills_an_unknown_window_only
    slots = ThrottleKit::Client.memory(policies: "limiters:\n  slots: { concurrency: { minLimit: 1, maxLimit: 1 } }\n")
    app = ThrottleKit::Rack.new(APP, client: slots, policy: "slots", admit: true, window: 30)
    status, headers, body = app.call(Rack::MockRequest.env_for("/", "REMOTE_ADDR" => "203.0.113.9"))
    assert_equal 200, status
    assert_equal '"slots";q=1;w=30', headers["ratelimit-policy"]
    body.close
    r = get(stack(window: 30))
    assert_equal '"api";q=2;w=60', r.headers["ratelimit-policy"], "the decision's window wins"
  ensure
    slots&.close
  end

  # ThrottleKit::Testing swaps a memory client into a middleware built with a Redis client
  # that could never connect.
  def test_testing_use_memory
    require "throttlekit/testing"
    dead = ThrottleKit::Client.redis("redis://127.0.0.1:#{dead_port}/0", policies: POLICIES, timeout: 0.2)
    req = stack(client: dead, policy: "login", on_backend_error: :reject)
    assert_equal 503, get(req).status
    ThrottleKit::Testing.with_memory(policies: POLICIES) do
      assert_equal 200, get(req).status
      assert_equal 429, get(req).status
      ThrottleKit::Testing.reset!
      assert_equal 200, get(req).status
    end
    refute ThrottleKit::Testing.active?
    assert_equal 503, get(req).status
  ensure
    dead&.close
  end
end
