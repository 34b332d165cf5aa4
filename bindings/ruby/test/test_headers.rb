# frozen_string_literal: true

require_relative "test_helper"

# ThrottleKit::Headers against contract/rate-limit-headers.json (the cases every
# implementation replays) and the rules of docs/headers.md for several decisions.
class TestHeaders < Minitest::Test
  include TKTest::Needs

  def table
    path = TKTest.repo_path("contract/rate-limit-headers.json").to_s
    flunk("the header table #{path.inspect} is missing") unless File.file?(path)
    JSON.parse(File.read(path))
  end

  def decision(h)
    ThrottleKit::Decision.new(allowed: h.fetch("allowed"), limit: h.fetch("limit"), remaining: h.fetch("remaining"),
                              reset_at_ms: h.fetch("resetAtMs"), retry_after_ms: h.fetch("retryAfterMs"),
                              window_ms: h.fetch("windowMs"), synthesized: h.fetch("synthesized"))
  end

  # Every case, every header both ways: each expected header is there with its value, and
  # nothing else is.
  def test_every_case_of_the_shared_table
    cases = table.fetch("cases")
    assert_operator cases.size, :>=, 18
    cases.each do |c|
      got = ThrottleKit::Headers.for(decision(c.fetch("decision")), policy: c.fetch("policy"),
                                                                    style: c.fetch("style"), now_ms: c.fetch("nowMs"))
      want = c.fetch("headers").to_h { |k, v| [k.downcase, v] }
      want.each { |name, value| assert_equal value, got[name], "#{c['name']}: #{name}" }
      assert_equal want.keys.sort, got.keys.sort, "#{c['name']}: the header names"
      assert got.keys.all? { |k| k == k.downcase }, "#{c['name']}: lower-case names"
    end
  end

  # The C helper tk_format_headers (the nginx module's) gives the same headers as this module
  # for every case and every style, so Ruby and C cannot drift apart.
  module CHelper
    extend FFI::Library
    ffi_lib ENV.fetch("THROTTLEKIT_LIB", "libthrottlekit.so.0")
    attach_function :tk_format_headers, %i[int string pointer int64 pointer size_t], :int
  end
  C_STYLES = { off: 0, ietf: 1, triple: 2, legacy: 3, all: 4 }.freeze

  def c_headers(style, policy, h, now_ms)
    d = ThrottleKit::Native::Decision.new
    d[:allowed] = h["allowed"] ? 1 : 0
    d[:flags] = h["synthesized"] ? ThrottleKit::Native::DECISION_SYNTHESIZED : 0
    %w[limit remaining resetAtMs retryAfterMs windowMs].zip(%i[limit remaining reset_at_ms retry_after_ms window_ms])
                                                       .each { |(json, field)| d[field] = h.fetch(json) }
    buf = FFI::MemoryPointer.new(:char, 4096)
    n = CHelper.tk_format_headers(C_STYLES.fetch(style), policy, d, now_ms, buf, 4096)
    assert_operator n, :<, 4096
    buf.read_string(n).split("\r\n").to_h { |line| line.split(": ", 2).then { |k, v| [k.downcase, v] } }
  end

  def test_same_headers_as_the_c_helper
    table.fetch("cases").each do |c|
      ThrottleKit::Headers::STYLES.each do |style|
        ruby = ThrottleKit::Headers.for(decision(c.fetch("decision")), policy: c.fetch("policy"), style: style,
                                                                        now_ms: c.fetch("nowMs"))
        assert_equal c_headers(style, c.fetch("policy"), c.fetch("decision"), c.fetch("nowMs")), ruby,
                     "#{c['name']} as #{style}"
      end
    end
  end

  def test_style_words
    assert_equal :ietf, ThrottleKit::Headers.style(nil)
    assert_equal :ietf, ThrottleKit::Headers.style("on")
    assert_equal :triple, ThrottleKit::Headers.style("Triple")
    assert_equal :off, ThrottleKit::Headers.style(false)
    ThrottleKit::Headers::STYLES.each { |s| assert_equal s, ThrottleKit::Headers.style(s.to_s) }
    assert_raises(ArgumentError) { ThrottleKit::Headers.style(:x_ratelimit) }
  end

  NOW = 1_700_000_000_000

  def d(allowed:, limit:, remaining:, reset_in:, retry_ms: 0, window_ms: 60_000, synthesized: false)
    ThrottleKit::Decision.new(allowed: allowed, limit: limit, remaining: remaining, reset_at_ms: NOW + reset_in,
                              retry_after_ms: retry_ms, window_ms: window_ms, synthesized: synthesized)
  end

  # Several decisions: ietf lists one member per policy in order; triple and legacy show the
  # fewest remaining (the first of equals); Retry-After is the longest wait.
  def test_several_decisions
    minute = d(allowed: true, limit: 10, remaining: 3, reset_in: 20_000)
    day = d(allowed: true, limit: 100, remaining: 3, reset_in: 3_600_000, window_ms: 86_400_000)
    burst = d(allowed: false, limit: 2, remaining: 0, reset_in: 1500, retry_ms: 1500, window_ms: 1000)
    entries = [["minute", minute], ["day", day]]
    h = ThrottleKit::Headers.for_many(entries, style: :all, now_ms: NOW)
    assert_equal '"minute";q=10;w=60, "day";q=100;w=86400', h["ratelimit-policy"]
    assert_equal '"minute";r=3;t=20, "day";r=3;t=3600', h["ratelimit"]
    assert_equal %w[10 3 20], h.values_at("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")
    assert_equal %w[10 3 1700000020], h.values_at("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
    assert_nil h["retry-after"]

    long = d(allowed: false, limit: 100, remaining: 0, reset_in: 7_000_000, retry_ms: 7_000_000)
    h = ThrottleKit::Headers.for_many([["minute", minute], ["burst", burst], ["day", long]], style: :triple, now_ms: NOW)
    assert_equal %w[2 0 2], h.values_at("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")
    assert_equal "7000", h["retry-after"]

    synth = d(allowed: true, limit: 0, remaining: 0, reset_in: -NOW, synthesized: true)
    h = ThrottleKit::Headers.for_many([["s", synth], ["minute", minute]], style: :ietf, now_ms: NOW)
    assert_equal '"minute";q=10;w=60', h["ratelimit-policy"]
    assert_equal({}, ThrottleKit::Headers.for_many([["minute", burst]], style: :off, now_ms: NOW))
  end
end
