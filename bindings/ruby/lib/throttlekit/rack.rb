# frozen_string_literal: true

require_relative "client"

module ThrottleKit
  # Rack middleware: one check per request, a 429 when denied.
  #
  #   limiter = ThrottleKit::Client.redis(ENV["REDIS_URL"], policies_file: "policies.yaml")
  #   use ThrottleKit::Rack, client: limiter, policy: "api", window: 60
  #
  # Options:
  #   client:     a ThrottleKit::Client (required)
  #   policy:     the policy name (required)
  #   key:        ->(env) { ... } returning the key (a String), or nil to skip limiting this
  #               request; default: the peer address (REMOTE_ADDR). X-Forwarded-For is never
  #               read by default: any client can forge it. Behind a trusted proxy, pass a key
  #               proc that knows which hop to trust.
  #   cost:       an Integer, or ->(env) { Integer } (default 1)
  #   window:     the policy's window in seconds, for RateLimit-Policy's w= (omitted when nil)
  #   on_backend_error: what to do when the backend is down (ThrottleKit::Unavailable or
  #               ThrottleKit::Timeout): :allow (pass the request on, the default) or :reject
  #               (503 with Retry-After). A client whose fail_mode is :open or :closed answers
  #               with a synthesized decision instead, which this middleware follows.
  #   retry_after_on_error: Retry-After seconds of that 503 (default 1)
  #   admit:      true for a concurrency policy (docs/admission.md): the request holds a slot
  #               from before the app runs until the response body is closed (streamed bodies
  #               included), released as dropped when the app raised or answered 5xx; a
  #               refusal is a 429 like a denial. cost is not used then.
  #
  # Denied: 429, Retry-After (whole seconds, rounded up), and the IETF httpapi ratelimit
  # headers: RateLimit-Policy: "<policy>";q=<limit>;w=<window> and
  # RateLimit: "<policy>";r=<remaining>;t=<seconds to reset>. Admitted responses carry the same
  # two RateLimit headers. Synthesized decisions carry none (the limiter did not decide).
  class Rack
    BACKEND_ERRORS = [ThrottleKit::Unavailable, ThrottleKit::Timeout].freeze
    DEFAULT_KEY = ->(env) { env["REMOTE_ADDR"].to_s }

    def initialize(app, client:, policy:, key: DEFAULT_KEY, cost: 1, window: nil,
                   on_backend_error: :allow, retry_after_on_error: 1, admit: false)
      raise ArgumentError, "client: must be a ThrottleKit::Client" unless client.is_a?(Client)
      unless %i[allow reject].include?(on_backend_error)
        raise ArgumentError, "on_backend_error: must be :allow or :reject"
      end

      @app = app
      @client = client
      @policy = policy.to_s
      @key = key
      @cost = cost
      @window = window
      @on_backend_error = on_backend_error
      @retry_after_on_error = retry_after_on_error.to_i
      @admit = admit ? true : false
    end

    def call(env)
      key = @key.call(env)
      return @app.call(env) if key.nil?

      return call_admitted(env, key.to_s) if @admit

      cost = @cost.respond_to?(:call) ? @cost.call(env) : @cost
      begin
        decision = @client.check(@policy, key.to_s, cost: cost)
      rescue *BACKEND_ERRORS => e
        env["throttlekit.error"] = e
        return @app.call(env) if @on_backend_error == :allow

        return [503, { "content-type" => "text/plain", "retry-after" => @retry_after_on_error.to_s },
                ["Service Unavailable\n"]]
      end
      env["throttlekit.decision"] = decision
      return too_many(decision) unless decision.allowed?

      status, headers, body = @app.call(env)
      [status, with_headers(headers, decision), body]
    end

    # A response body that releases the request's admission when the server closes it.
    class ReleasingBody
      def initialize(body, admission, dropped)
        @body = body
        @admission = admission
        @dropped = dropped
      end

      def each(&block)
        @body.each(&block)
      end

      def close
        @body.close if @body.respond_to?(:close)
      ensure
        begin
          @admission.release(dropped: @dropped)
        rescue *BACKEND_ERRORS
          nil # the lease expires by itself
        end
      end
    end

    private

    def call_admitted(env, key)
      begin
        admission = @client.admit(@policy, key)
      rescue *BACKEND_ERRORS => e
        env["throttlekit.error"] = e
        return @app.call(env) if @on_backend_error == :allow

        return [503, { "content-type" => "text/plain", "retry-after" => @retry_after_on_error.to_s },
                ["Service Unavailable\n"]]
      end
      env["throttlekit.admission"] = admission
      return too_many(admission.decision) unless admission.allowed?

      begin
        status, headers, body = @app.call(env)
      rescue Exception # rubocop:disable Lint/RescueException -- released, then re-raised
        admission.release(dropped: true)
        raise
      end
      [status, with_headers(headers, admission.decision), ReleasingBody.new(body, admission, status.to_i >= 500)]
    end

    def too_many(decision)
      headers = { "content-type" => "text/plain",
                  "retry-after" => [(decision.retry_after_ms + 999) / 1000, 1].max.to_s }
      add_ratelimit(headers, decision)
      [429, headers, ["Too Many Requests\n"]]
    end

    def with_headers(headers, decision)
      return headers if decision.synthesized?

      headers = headers.dup if headers.frozen?
      add_ratelimit(headers, decision)
      headers
    end

    def add_ratelimit(headers, decision)
      return if decision.synthesized?

      name = @policy.gsub(/["\\]/) { |c| "\\#{c}" }
      policy = +"\"#{name}\";q=#{decision.limit}"
      policy << ";w=#{@window.ceil}" if @window
      headers["ratelimit-policy"] = policy
      headers["ratelimit"] = "\"#{name}\";r=#{decision.remaining};t=#{seconds_to_reset(decision)}"
    end

    def seconds_to_reset(decision)
      return 0 if decision.reset_at_ms.zero?

      now_ms = Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond)
      [(decision.reset_at_ms - now_ms + 999) / 1000, 0].max
    end
  end
end
