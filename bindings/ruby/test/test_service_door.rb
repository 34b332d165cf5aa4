# frozen_string_literal: true

require_relative "test_helper"

# The service door against a real throttlekit-server ($THROTTLEKIT_SERVER), started here with
# a temporary policy file (embedded store) and stopped with SIGTERM.
class TestServiceDoor < Minitest::Test
  include TKTest::Needs

  POLICIES = <<~YAML
    limiters:
      api: { strategy: gcra, limit: 5, period: 1s, burst: 5 }
      fw: { strategy: fixedWindow, limit: 3, windowMs: 1h }
      llm:
        tokenBudget: { budget: 100, windowMs: 1h }
  YAML

  def with_server(args: [])
    server = TKTest::Server.new(server_binary, POLICIES, args: args)
    yield server
  ensure
    status = server&.stop
    assert status.success?, "throttlekit-server exit status #{status.inspect}" if status
  end

  def key(label)
    "#{label}-#{SecureRandom.hex(6)}"
  end

  # check_all is one CheckAll RPC: all or nothing on the server's store.
  def test_check_all
    with_server do |srv|
      ThrottleKit::Client.service(srv.addr, timeout: 5) do |c|
        a = key("a")
        b = key("b")
        r = c.check_all([["fw", a], ["fw", b, 3]])
        assert r.allowed?
        assert_equal [[true, 3, 2], [true, 3, 0]], r.map { |d| [d.allowed?, d.limit, d.remaining] }
        c2 = key("c")
        r = c.check_all([["fw", c2], { policy: "fw", key: b }])
        refute r.allowed?
        assert_equal [1], r.denied_indexes
        assert_equal [[true, 3, 2, 0], [false, 3, 0, true]],
                     r.map { |d| [d.allowed?, d.limit, d.remaining, d.allowed? ? d.retry_after_ms : d.retry_after_ms.positive?] }
        refute r.any?(&:synthesized?)
        assert_equal 3, c.peek("fw", c2).remaining # the allowing item was not consumed
        e = assert_raises(ThrottleKit::PolicyNotFound) { c.check_all([["fw", a], ["nope", a]]) }
        # the service door prefixes its messages ("service: "); the item is named all the same
        assert_match(/\A(service: )?items\[1\]: unknown policy/, e.message)
        assert_equal 2, c.peek("fw", a).remaining
        assert_raises(ThrottleKit::Unsupported) { c.check_all_at([["fw", a]], 1_700_000_000_000) }
        assert c.check_all([]).allowed?
      end
    end
  end

  def test_every_operation
    with_server do |srv|
      ThrottleKit::Client.service(srv.addr, timeout: 5) do |c|
        k = key("k")
        fw = key("fw")
        3.times { |i| assert_equal 2 - i, c.check("fw", fw).remaining }
        d = c.check("fw", fw)
        refute d.allowed?
        assert_equal 3, d.limit
        assert_operator d.retry_after_ms, :>, 0
        assert_kind_of Time, d.reset_at
        refute d.synthesized?

        ds = c.check_many("fw", [k, k, key("other")])
        assert_equal [2, 1, 2], ds.map(&:remaining)
        assert_equal [], c.check_many("fw", [])
        assert_equal 1, c.peek("fw", k).remaining
        assert_equal 1, c.peek("fw", k).remaining
        f = c.forecast("fw", k)
        assert_equal 1, f.spendable_now
        assert_kind_of Time, f.full_at

        assert_equal 5, c.check("api", key("g")).limit
        b = c.debit("llm", k, 30)
        assert b.allowed?
        assert_equal 70, b.remaining
        assert_equal 70, c.peek("llm", k).remaining

        e = assert_raises(ThrottleKit::PolicyNotFound) { c.check("nope", k) }
        refute_empty e.message
        assert_raises(ThrottleKit::Unsupported) { c.debit("fw", k, 1) }
        assert_raises(ThrottleKit::Unsupported) { c.check("llm", k) }
        assert_raises(ThrottleKit::Unsupported) { c.check("fw", k, now_ms: 1_700_000_000_000) }
        assert_raises(ThrottleKit::Unsupported) { c.peek("fw", k, now_ms: 1_700_000_000_000) }
        assert_raises(ThrottleKit::Unsupported) { c.forecast("fw", k, now_ms: 1_700_000_000_000) }
        assert_raises(ThrottleKit::Unsupported) { c.debit("llm", k, 1, now_ms: 1_700_000_000_000) }
        assert_raises(ThrottleKit::Unsupported) { c.check_many("fw", [k], now_ms: 1_700_000_000_000) }
        e = assert_raises(ThrottleKit::InvalidArgument) { c.check("fw", "\xff\xfe".b) }
        assert_match(/UTF-8/i, e.message)
        assert_raises(ThrottleKit::InvalidArgument) { c.check("fw", k, cost: 2**53) }
        assert_raises(ThrottleKit::InvalidArgument) { c.check("fw", nil) }
        assert c.check("fw", "ключ-#{SecureRandom.hex(3)}").allowed?
      end
    end
  end

  def test_auth_token
    with_server(args: ["--auth-token-file", ->(dir) { File.join(dir, "token").tap { |p| File.write(p, "s3cret\n") } }]) do |srv|
      ThrottleKit::Client.service(srv.addr, timeout: 5) do |c|
        e = assert_raises(ThrottleKit::AuthError) { c.check("fw", "k") }
        assert_equal ThrottleKit::Native::E_AUTH, e.status
      end
      ThrottleKit::Client.service(srv.addr, timeout: 5, auth_token: "not-the-token-xyzzy") do |c|
        e = assert_raises(ThrottleKit::AuthError) { c.check("fw", "k") }
        refute_includes e.message, "xyzzy"
      end
      ThrottleKit::Client.service(srv.addr, timeout: 5, auth_token: "s3cret") do |c|
        assert c.check("fw", key("auth")).allowed?
      end
    end
  end

  def test_server_down_fail_modes
    server_binary
    target = "127.0.0.1:#{dead_port}"
    ThrottleKit::Client.service(target, timeout: 0.3) do |c|
      t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      assert_raises(ThrottleKit::Unavailable, ThrottleKit::Timeout) { c.check("api", "k") }
      assert_operator Process.clock_gettime(Process::CLOCK_MONOTONIC) - t, :<, 2
    end
    ThrottleKit::Client.service(target, timeout: 0.3, fail_mode: :open) do |c|
      d = c.check("api", "k")
      assert d.allowed?
      assert d.synthesized?
      assert_equal 0, d.limit
      assert_raises(ThrottleKit::Unavailable, ThrottleKit::Timeout) { c.peek("api", "k") }
    end
    ThrottleKit::Client.service(target, timeout: 0.3, fail_mode: :closed) do |c|
      d = c.check("api", "k")
      refute d.allowed?
      assert d.synthesized?
    end
  end

  def test_bad_target_and_tls_options
    e = assert_raises(ThrottleKit::InvalidArgument) { ThrottleKit::Client.service("", timeout: 1).open }
    refute_empty e.message
    assert_raises(ThrottleKit::InvalidArgument) { ThrottleKit::Client.service(nil) }
    # TLS to a plaintext server: the handshake fails
    with_server do |srv|
      Dir.mktmpdir do |dir|
        ca = File.join(dir, "ca.pem")
        File.write(ca, "not a certificate\n")
        c = ThrottleKit::Client.service(srv.addr, timeout: 1, tls_ca_file: ca)
        begin
          assert_raises(ThrottleKit::Error) { c.check("fw", "k") }
        ensure
          c.close
        end
      end
    end
  end
end
