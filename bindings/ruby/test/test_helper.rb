# frozen_string_literal: true

# Shared setup of the gem's tests. Environment:
#   THROTTLEKIT_LIB             libthrottlekit.so (default: <repo>/build/lib/libthrottlekit.so)
#   THROTTLEKIT_REDIS_URL       a Redis for the Redis-door tests (keys under a unique namespace)
#   THROTTLEKIT_SERVER          throttlekit-server (default: <repo>/build/bin/throttlekit-server)
#   THROTTLEKIT_GOLDEN_VECTORS  golden-vectors.json (default: <repo>/contract/golden-vectors.json,
#                               the vendored copy; missing vectors always fail)
#   CI=true                     what else is missing fails instead of skipping
require "rbconfig"
require "securerandom"
require "tmpdir"
require "timeout"
require "open3"
require "json"

module TKTest
  GEM_DIR = File.expand_path("..", __dir__)
  REPO = [File.expand_path("../..", GEM_DIR)].find { |d| File.exist?(File.join(d, "include", "throttlekit.h")) }
  RUN_ID = "tkrb-#{Process.pid}-#{SecureRandom.hex(4)}"

  module_function

  def ci?
    ENV["CI"] == "true"
  end

  def repo_path(*parts)
    REPO && File.join(REPO, *parts)
  end

  # Whether Rails (railties, actionpack) loads, tried once in a child Ruby.
  def rails?
    return @rails if defined?(@rails)

    @rails = system(RbConfig.ruby, "-e", 'require "rails"; require "action_controller/railtie"',
                    out: File::NULL, err: File::NULL)
  end

  # A namespace unique to this run (and to the caller's label).
  def namespace(label = "t")
    "#{RUN_ID}-#{label}"
  end
end

if ENV["THROTTLEKIT_LIB"].to_s.empty? && TKTest.repo_path("build/lib/libthrottlekit.so") &&
   File.exist?(TKTest.repo_path("build/lib/libthrottlekit.so"))
  ENV["THROTTLEKIT_LIB"] = TKTest.repo_path("build/lib/libthrottlekit.so")
end

$LOAD_PATH.unshift(File.join(TKTest::GEM_DIR, "lib"))
require "throttlekit"
require "minitest"

module TKTest
  # Missing test infrastructure: a skip locally, a failure when CI=true.
  module Needs
    def missing(what)
      flunk("#{what} and CI=true") if TKTest.ci?
      skip(what)
    end

    def redis_url
      url = ENV["THROTTLEKIT_REDIS_URL"].to_s
      missing("THROTTLEKIT_REDIS_URL is not set: Redis-door test skipped") if url.empty?
      url
    end

    def server_binary
      path = ENV["THROTTLEKIT_SERVER"].to_s
      path = TKTest.repo_path("build/bin/throttlekit-server").to_s if path.empty?
      missing("the server binary #{path.inspect} is missing (make server, or THROTTLEKIT_SERVER)") unless File.executable?(path)
      path
    end

    def golden_vectors
      path = ENV["THROTTLEKIT_GOLDEN_VECTORS"].to_s
      path = TKTest.repo_path("contract/golden-vectors.json").to_s if path.empty?
      flunk("the golden vectors #{path.inspect} are missing") unless File.file?(path)
      JSON.parse(File.read(path))
    end

    # A port nothing listens on.
    def dead_port
      s = TCPServer.new("127.0.0.1", 0)
      port = s.addr[1]
      s.close
      port
    end

    # Runs a Ruby script in a fresh interpreter (one that never used the library), with the
    # gem on its load path. Returns [stdout, stderr, Process::Status].
    def run_ruby(script, env: {}, timeout: 60)
      cmd = [RbConfig.ruby, "-I", File.join(TKTest::GEM_DIR, "lib"), "-e", script]
      out = err = status = nil
      Open3.popen3(ENV.to_h.merge(env), *cmd) do |stdin, o, e, wait|
        stdin.close
        readers = [Thread.new { o.read }, Thread.new { e.read }]
        unless wait.join(timeout)
          Process.kill("KILL", wait.pid)
          flunk("the child ruby did not finish within #{timeout} s")
        end
        out, err = readers.map(&:value)
        status = wait.value
      end
      [out, err, status]
    end
  end

  # A throttlekit-server run: a temporary policy file, --port 0, the address read from the
  # file --ready-file names once the server has written it (its log kept in log_path, shown
  # when it does not start); stop sends SIGTERM and waits.
  class Server
    attr_reader :addr, :log_path

    def initialize(binary, policies, args: [])
      @dir = Dir.mktmpdir("tkrb-server")
      policy_path = File.join(@dir, "policies.yaml")
      File.write(policy_path, policies)
      @log_path = File.join(@dir, "server.log")
      @ready_path = File.join(@dir, "server.ready")
      extra = args.map { |a| a.is_a?(Proc) ? a.call(@dir) : a }
      @pid = Process.spawn(binary, "-c", policy_path, "--host", "127.0.0.1", "--port", "0",
                           "--ready-file", @ready_path, *extra, in: File::NULL, out: File::NULL, err: @log_path)
      @addr = wait_ready
    end

    # The first line of the ready file (written atomically: absent, or whole).
    def wait_ready
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 30
      loop do
        begin
          first = File.read(@ready_path).lines.first.to_s
          return first.chomp if first.end_with?("\n") && first.include?(":")

          raise_not_started("wrote a ready file #{@ready_path} that does not start with host:port: #{first.inspect}")
        rescue Errno::ENOENT
          nil
        end
        if Process.waitpid(@pid, Process::WNOHANG)
          @pid = nil
          raise_not_started("exited before writing its ready file #{@ready_path}")
        end
        if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
          raise_not_started("wrote no ready file #{@ready_path} within 30 s")
        end

        sleep 0.02
      end
    end

    def raise_not_started(why)
      log = File.exist?(@log_path) ? File.read(@log_path) : ""
      msg = "throttlekit-server #{why}; its log (#{@log_path}):\n#{log}"
      stop
      raise msg
    end

    # SIGTERM; returns the exit status (nil when it was not running).
    def stop
      return nil unless @pid

      pid = @pid
      @pid = nil
      begin
        Process.kill("TERM", pid)
      rescue Errno::ESRCH
        nil
      end
      status = nil
      begin
        Timeout.timeout(20) { _, status = Process.wait2(pid) }
      rescue Timeout::Error
        Process.kill("KILL", pid)
        _, status = Process.wait2(pid)
      end
      status
    ensure
      FileUtils.rm_rf(@dir) if @dir && !@pid
    end
  end
end

require "fileutils"
require "socket"
