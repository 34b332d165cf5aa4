# frozen_string_literal: true

require_relative "test_helper"
require "net/http"
require "rack"

# A real Rails app (test/rails_app, Debian's railties and actionpack) served by Puma in cluster
# mode (2 workers, the app preloaded in the master) over real HTTP: ThrottleKit::Railtie reads
# config/throttlekit.yml (the Redis door, per-route rules, a header style per route), the
# default key is Rails' remote_ip (its trusted proxies), every header style follows
# docs/headers.md, the events reach an ActiveSupport::Notifications subscriber, the limit holds
# across the two forked workers, and ThrottleKit::Testing's memory door replaces Redis.
# Rails and Puma run in child processes only: this process never loads Rails.
class TestRails < Minitest::Test
  include TKTest::Needs
  parallelize_me! # each test waits on its own child processes

  APP_DIR = File.join(__dir__, "rails_app")
  LIMIT = 2 # config/policies.yaml: api, slidingWindowLog, 2 per hour
  WINDOW_S = 3600
  # The trusted-proxy hop the app's config.action_dispatch.trusted_proxies names (and Rack's
  # ip_filter does not).
  PROXY = "192.0.2.1"

  # A Puma cluster running the app, on a free port; its output in a log file.
  class PumaCluster
    attr_reader :port, :log_path, :events_path

    def initialize(puma, env)
      @dir = Dir.mktmpdir("tkrb-rails")
      @log_path = File.join(@dir, "puma.log")
      @events_path = File.join(@dir, "events.jsonl")
      @port = free_port
      lib = File.join(TKTest::GEM_DIR, "lib")
      env = env.merge("PORT" => @port.to_s, "TK_PUMA_PIDFILE" => File.join(@dir, "puma.pid"),
                      "TK_EVENTS_FILE" => @events_path,
                      "RUBYLIB" => [lib, ENV["RUBYLIB"]].compact.reject(&:empty?).join(File::PATH_SEPARATOR))
      @pid = Process.spawn(env, puma, "-C", "config/puma.rb", "config.ru", chdir: APP_DIR, in: File::NULL,
                                                                          out: @log_path, err: @log_path)
      wait_ready
    end

    def free_port
      s = TCPServer.new("127.0.0.1", 0)
      s.addr[1]
    ensure
      s&.close
    end

    def get(path, headers = {})
      Net::HTTP.start("127.0.0.1", @port, open_timeout: 5, read_timeout: 20) do |http|
        http.request(Net::HTTP::Get.new(path, headers))
      end
    end

    def wait_ready
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 90
      loop do
        begin
          return if get("/free").code == "200"
        rescue SystemCallError, IOError, Net::ReadTimeout, Net::OpenTimeout
          nil
        end
        raise "puma exited before serving; its log:\n#{log}" if Process.waitpid(@pid, Process::WNOHANG)
        raise "puma did not serve within 90 s; its log:\n#{log}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

        sleep 0.2
      end
    end

    def log
      File.exist?(@log_path) ? File.read(@log_path) : ""
    end

    def events
      return [] unless File.exist?(@events_path)

      File.readlines(@events_path).map { |l| JSON.parse(l) }
    end

    def stop
      return unless @pid

      pid = @pid
      @pid = nil
      begin
        Process.kill("TERM", pid)
        Timeout.timeout(30) { Process.wait(pid) }
      rescue Errno::ESRCH, Errno::ECHILD
        nil
      rescue Timeout::Error
        Process.kill("KILL", pid)
        Process.wait(pid)
      end
    ensure
      FileUtils.rm_rf(@dir) unless @pid
    end
  end

  def needs_rails_and_puma
    ok = TKTest.rails?
    missing("Rails is not installed (apt-get install ruby-railties ruby-actionpack ruby-activesupport)") unless ok
    puma = ENV["PATH"].to_s.split(File::PATH_SEPARATOR).map { |d| File.join(d, "puma") }.find { |f| File.executable?(f) }
    missing("puma is not installed (apt-get install puma)") unless puma
    puma
  end

  def boot(env)
    lib = ENV["THROTTLEKIT_LIB"].to_s
    lib = File.expand_path(lib) unless lib.empty?
    @puma = PumaCluster.new(needs_rails_and_puma, { "THROTTLEKIT_LIB" => lib }.merge(env))
  end

  def teardown
    @puma&.stop
  end

  RATELIMIT_NAMES = /\A(x-)?ratelimit|\Aretry-after\z/i

  # The RateLimit fields and Retry-After of a response, names lower-cased.
  def rate_headers(resp)
    resp.each_header.select { |name, _| name.match?(RATELIMIT_NAMES) }.to_h { |n, v| [n.downcase, v] }
  end

  # Checks a response's headers against docs/headers.md for policy "api" (limit 2, window
  # 1 h), both ways: every field the style calls for, with its value, and no other.
  def assert_style(style, resp, remaining:, denied:, now_s:)
    got = rate_headers(resp)
    want = []
    if %w[ietf all].include?(style)
      want += %w[ratelimit-policy ratelimit]
      assert_equal "\"api\";q=#{LIMIT};w=#{WINDOW_S}", got["ratelimit-policy"], style
      t = got["ratelimit"].to_s[/\A"api";r=#{remaining};t=(\d+)\z/, 1]
      assert t, "#{style}: RateLimit #{got['ratelimit'].inspect}"
      assert_includes (WINDOW_S - 30)..WINDOW_S, t.to_i, style
    end
    if %w[triple all].include?(style)
      want += %w[ratelimit-limit ratelimit-remaining ratelimit-reset]
      assert_equal [LIMIT.to_s, remaining.to_s], got.values_at("ratelimit-limit", "ratelimit-remaining"), style
      assert_includes (WINDOW_S - 30)..WINDOW_S, got["ratelimit-reset"].to_i, style
    end
    if %w[legacy all].include?(style)
      want += %w[x-ratelimit-limit x-ratelimit-remaining x-ratelimit-reset]
      assert_equal [LIMIT.to_s, remaining.to_s], got.values_at("x-ratelimit-limit", "x-ratelimit-remaining"), style
      assert_includes (now_s + WINDOW_S - 30)..(now_s + WINDOW_S + 1), got["x-ratelimit-reset"].to_i, style
    end
    if denied && style != "off"
      want << "retry-after"
      assert_includes 1..WINDOW_S, got["retry-after"].to_i, style
    end
    assert_equal want.sort, got.keys.sort, "#{style}: exactly the style's fields"
  end

  STYLES = %w[ietf triple legacy all off].freeze

  def test_rails_railtie_redis_door_under_puma_cluster
    namespace = TKTest.namespace("rails")
    boot("THROTTLEKIT_REDIS_URL" => redis_url, "TK_NAMESPACE" => namespace)
    pids = []
    STYLES.each_with_index do |style, i|
      client = "203.0.113.#{20 + i}"
      hdr = { "X-Forwarded-For" => "#{client}, #{PROXY}" }
      path = style == "ietf" ? "/limited/anything" : "/limited/#{style}" # /limited: the default style
      LIMIT.times do |n|
        now_s = Time.now.to_i
        r = @puma.get(path, hdr)
        assert_equal "200", r.code, "#{style} request #{n + 1}: #{r.body}"
        pids << r.body[/\Aok (\d+)/, 1].to_i
        assert_style(style, r, remaining: LIMIT - n - 1, denied: false, now_s: now_s)
      end
      now_s = Time.now.to_i
      r = @puma.get(path, hdr)
      assert_equal "429", r.code, "#{style}: the request past the limit"
      assert_equal "Too Many Requests\n", r.body
      assert_style(style, r, remaining: 0, denied: true, now_s: now_s)
    end

    # Fork safety: requests side by side reach both workers; each opened its own handle (the
    # master preloaded the app and never called the library) and none failed.
    seen = Queue.new
    Array.new(6) do |t|
      Thread.new do
        8.times do |n|
          r = @puma.get("/pid", "X-Client" => "c#{t}-#{n}")
          seen << [r.code, r.body[/\Aok (\d+)/, 1].to_i, r["ratelimit-policy"]]
        end
      end
    end.each(&:join)
    answers = Array.new(seen.size) { seen.pop }
    assert_equal ["200"], answers.map(&:first).uniq
    assert_equal ['"wide";q=100000;w=3600'], answers.map(&:last).uniq
    workers = (pids + answers.map { |a| a[1] }).uniq
    assert_equal 2, workers.size, "both Puma workers answered (saw pids #{workers})"

    # Events: per styled client, LIMIT + 1 checks and one throttled, keyed by Rails'
    # remote_ip: the client behind the trusted proxy (Rack's ip would say 192.0.2.1).
    events = @puma.events
    STYLES.each_index do |i|
      client = "203.0.113.#{20 + i}"
      mine = events.select { |e| e["key"] == client }
      assert_equal [true] * LIMIT + [false], mine.select { |e| e["name"] == "check.throttlekit" }.map { |e| e["allowed"] }
      assert_equal [["throttled.throttlekit", "api", false]],
                   mine.select { |e| e["name"] == "throttled.throttlekit" }.map { |e| e.values_at("name", "policy", "allowed") }
    end
    env = Rack::MockRequest.env_for("/", "REMOTE_ADDR" => "127.0.0.1", "HTTP_X_FORWARDED_FOR" => "203.0.113.20, #{PROXY}")
    assert_equal PROXY, Rack::Request.new(env).ip, "Rack alone would have keyed on the proxy"
    assert_equal 48, events.count { |e| e["policy"] == "wide" && e["name"] == "check.throttlekit" }
    assert_operator events.map { |e| e["pid"] }.uniq.size, :>=, 2, "events came from both workers"
    refute_match(/ThrottleKit::|Forked|Error/, @puma.log)
  end

  # The app's own tests' way: ThrottleKit::Testing.use_memory! (config/initializers) with
  # other policies (limit 1), the Redis of config/throttlekit.yml unreachable.
  def test_rails_testing_memory_door_under_puma_cluster
    dead = "redis://127.0.0.1:#{dead_port}/0"
    boot("THROTTLEKIT_REDIS_URL" => dead, "TK_TEST_HELPER" => "1")
    hdr = { "X-Forwarded-For" => "203.0.113.99, #{PROXY}" }
    codes = Array.new(3) { @puma.get("/limited/triple", hdr) }
    first = codes.first
    assert_equal "200", first.code
    assert_equal %w[1 0], [first["ratelimit-limit"], first["ratelimit-remaining"]], "the memory policies (limit 1)"
    # each worker has its own memory store: 3 requests on 2 workers, one worker saw two
    assert_includes codes.map(&:code), "429"
    assert(codes.all? { |r| r["ratelimit-limit"] == "1" })
    refute_match(/ThrottleKit::|Forked|Error/, @puma.log)
  end
end
