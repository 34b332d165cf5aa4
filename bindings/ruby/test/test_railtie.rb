# frozen_string_literal: true

require_relative "test_helper"

# ThrottleKit::Railtie in a child Ruby (this process never loads Rails), booting
# test/rails_app in its development environment, whose config/throttlekit.yml section picks
# the memory door: settings made in Ruby win over the file, the shadow denials go to
# Rails.logger, and ThrottleKit::Testing::Minitest gives each test fresh memory.
class TestRailtie < Minitest::Test
  include TKTest::Needs
  parallelize_me! # each test waits on its own child processes

  APP = File.join(__dir__, "rails_app")

  def run_app(script)
    ok = TKTest.rails?
    missing("Rails is not installed (apt-get install ruby-railties ruby-actionpack ruby-activesupport)") unless ok
    lib = ENV["THROTTLEKIT_LIB"].to_s
    env = { "RAILS_ENV" => "development", "THROTTLEKIT_LIB" => lib.empty? ? "" : File.expand_path(lib) }
    out, err, status = run_ruby("Dir.chdir(#{APP.dump})\n#{script}", env: env)
    assert status.success?, "child ruby failed:\n#{out}\n#{err}"
    out
  end

  # One boot (a Rails boot is the slow part): the settings, then a Minitest run inside it.
  def test_ruby_settings_win_over_the_yaml_shadow_logging_and_the_minitest_helper
    out = run_app(<<~'RUBY')
      require "./config/application"
      require "stringio"
      log = StringIO.new
      Rails.application.config.logger = Logger.new(log, level: :warn)
      Rails.application.config.throttlekit.headers = :legacy    # the file says ietf
      ThrottleKit.configure { |c| c.shadow = true }
      Rails.application.initialize!
      require "rack/mock"
      req = Rack::MockRequest.new(Rails.application)
      rs = Array.new(3) { req.get("/limited/x", "REMOTE_ADDR" => "203.0.113.1") }
      p rs.map(&:status)
      p rs.map { |r| r.headers["x-ratelimit-remaining"] }
      p rs.last.headers["ratelimit"]
      p ThrottleKit.client.door
      p Rails.application.middleware.include?(ThrottleKit::Railtie::Middleware)
      p log.string.scan(/shadow denial admitted policy="api" key="203.0.113.1"/).size

      # An application's tests: fresh memory (not shadowed) per test.
      require "throttlekit/testing"
      require "minitest"
      class AppTest < Minitest::Test
        include ThrottleKit::Testing::Minitest
        def throttlekit_policies
          "limiters:\n  api: { strategy: fixedWindow, limit: 1, windowMs: 1h }\n"
        end
        2.times do |i|
          define_method("test_#{i}") do
            req = Rack::MockRequest.new(Rails.application)
            assert_equal 200, req.get("/limited/x", "REMOTE_ADDR" => "203.0.113.2").status
            assert_equal 429, req.get("/limited/x", "REMOTE_ADDR" => "203.0.113.2").status
            assert ThrottleKit::Testing.active?
          end
        end
      end
      ok = Minitest.run(["--seed", "1"])
      puts(ok && !ThrottleKit::Testing.active? && ThrottleKit.client.door == :memory ? "PASSED" : "FAILED")
    RUBY
    status, remaining, ietf, door, inserted, logged = out.lines.first(6).map(&:strip)
    assert_equal "[200, 200, 200]", status, "a shadow denial is admitted"
    assert_equal '["1", "0", "0"]', remaining, "config.throttlekit.headers = :legacy won over the file's ietf"
    assert_equal "nil", ietf
    assert_equal ":memory", door, "development: memory: true in config/throttlekit.yml"
    assert_equal "true", inserted
    assert_equal "1", logged, "one Rails.logger line per shadow-admitted denial"
    assert_equal "PASSED", out.lines.last.to_s.strip, "ThrottleKit::Testing::Minitest: #{out}"
  end
end
