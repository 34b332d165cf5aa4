# frozen_string_literal: true

require_relative "test_helper"

# Concurrency admission (docs/admission.md) from Ruby: admit with a block releases on exit,
# dropped when the block raised; without a block the caller releases; heartbeat reports the
# ids that are gone; the service door; a fork.
class TestAdmission < Minitest::Test
  include TKTest::Needs

  POLICIES = <<~YAML
    limiters:
      cc: { concurrency: { minLimit: 2, maxLimit: 2 } }
      api: { strategy: gcra, limit: 5, period: 1s }
  YAML
  T0 = 1_700_000_000_000

  def client(&block)
    ThrottleKit::Client.redis(redis_url, policies: POLICIES, namespace: TKTest.namespace("admit"),
                                         timeout: 5, &block)
  end

  def test_block_releases_on_exit_and_when_it_raises
    client do |c|
      value = c.admit("cc", "k") do |a|
        assert a.allowed?
        assert a.held?
        assert_match(/\A\h{32}\z/, a.lease_id)
        c.admit("cc", "k") do |b|
          assert b.allowed?
          c.admit("cc", "k") do |full|
            refute full.allowed?
            refute full.held?
            assert_equal "concurrency", full.binding_axis
            assert_equal 2, full.decision.limit
          end
        end
        :done
      end
      assert_equal :done, value
      # Both slots came back: two more fit.
      2.times { assert c.admit("cc", "k").tap(&:release).allowed? }

      held = nil
      assert_raises(RuntimeError) do
        c.admit("cc", "k") do |a|
          held = a
          raise "the work failed"
        end
      end
      assert held.released?
      assert c.admit("cc", "k") { |a| a.allowed? }, "the raising block's slot is free again"
    end
  end

  def test_without_a_block_at_explicit_clocks
    client do |c|
      a = c.admit("cc", "k", now_ms: T0)
      b = c.admit("cc", "k", now_ms: T0)
      assert_equal [true, true], [a.allowed?, b.allowed?]
      assert_equal T0 + 2000, a.lease_expires_at_ms
      assert_equal [1, 0], [a.decision.remaining, b.decision.remaining]
      refute c.admit("cc", "k", now_ms: T0).allowed?
      assert_equal ["nope"], c.heartbeat("cc", "k", [a.lease_id, "nope"], now_ms: T0 + 1500)
      # b was not renewed: at +2000 it is reclaimed, a lives on.
      assert c.admit("cc", "k", now_ms: T0 + 2000).allowed?
      assert_equal [b.lease_id], c.heartbeat("cc", "k", [a.lease_id, b.lease_id], now_ms: T0 + 2000)
      a.release
      a.release # idempotent
      c.release("cc", "k", "unknown")
      assert_raises(ThrottleKit::Unsupported) { c.admit("api", "k") }
      assert_raises(ThrottleKit::PolicyNotFound) { c.admit("nope", "k") }
      assert_raises(ThrottleKit::InvalidArgument) { c.admit("cc", "k", cost: -1) }
    end
  end

  def test_lease_heartbeat_keeps_leases_past_the_ttl
    ns = TKTest.namespace("admit-pump")
    open = ->(**o) { ThrottleKit::Client.redis(redis_url, policies: POLICIES, namespace: ns, timeout: 5, lease_ttl: 1.5, **o) }
    pumped = open.call(lease_heartbeat: true)
    probe = open.call
    a = pumped.admit("cc", "k")
    b = pumped.admit("cc", "k")
    assert a.allowed? && b.allowed?
    sleep 2.5 # past the 1.5 s TTL
    refute probe.admit("cc", "k").allowed?, "renewed leases still hold both slots"
    a.release
    b.release
    assert probe.admit("cc", "k").tap(&:release).allowed?
  ensure
    pumped&.close
    probe&.close
  end

  def test_service_door
    server = TKTest::Server.new(server_binary, POLICIES)
    begin
      ThrottleKit::Client.service(server.addr, timeout: 5) do |c|
        c.admit("cc", "k") do |a|
          assert a.allowed?
          assert_equal [], c.heartbeat("cc", "k", [a.lease_id])
          c.admit("cc", "k") { |b| assert b.allowed? }
          c.admit("cc", "k") { |b| assert b.allowed? } # the inner one was released
        end
        assert_raises(ThrottleKit::Unsupported) { c.admit("cc", "k", now_ms: T0) }
      end
    ensure
      server.stop
    end
  end

  # A client built before fork and never used there admits in each child.
  def test_children_admit_on_a_client_built_before_fork
    url = redis_url
    out, err, status = run_ruby(<<~RUBY, env: { "THROTTLEKIT_NS" => TKTest.namespace("admit-fork") })
      require "throttlekit"
      c = ThrottleKit::Client.redis(#{url.inspect}, policies: #{POLICIES.inspect}, namespace: ENV["THROTTLEKIT_NS"])
      pids = 2.times.map do
        Process.fork do
          ok = c.admit("cc", "k") { |a| a.allowed? && a.lease_id.size == 32 }
          exit!(ok ? 0 : 3)
        rescue Exception => e
          $stderr.puts "\#{e.class}: \#{e.message}"
          exit!(4)
        end
      end
      puts pids.map { |pid| Process.wait2(pid)[1].exitstatus }.join(",")
    RUBY
    assert status.success?, "stdout: #{out}\nstderr: #{err}"
    assert_equal "0,0", out.lines.last.to_s.strip
  end
end
