# frozen_string_literal: true

require "rack"
require_relative "../throttlekit"

module ThrottleKit
  # Rack middleware: checks each request against a policy (or the rules it matches), answers
  # a rejection through the responder (default: 429), and adds the RateLimit headers of the
  # chosen style to every checked response.
  #
  #   limiter = ThrottleKit::Client.redis(ENV["REDIS_URL"], policies_file: "policies.yaml")
  #   use ThrottleKit::Rack, client: limiter, policy: "api", headers: :triple,
  #                          key: ->(request) { request.get_header("HTTP_X_API_KEY") }
  #
  # Options:
  #   client:    a ThrottleKit::Client, or a callable returning one (resolved per request; the
  #              Railtie passes ThrottleKit.client). ThrottleKit::Testing.use_memory! replaces
  #              it, in every instance, with a memory-door client.
  #   policy:    the policy name (required unless every rule names one)
  #   key:       ->(request) { ... } taking a Rack::Request, returning the key (to_s), or nil to
  #              leave the request unlimited. Default DEFAULT_KEY: the client address Rails
  #              computed (env "action_dispatch.remote_ip": ActionDispatch::RemoteIp, which
  #              trusts config.action_dispatch.trusted_proxies) when that middleware ran
  #              before this one, else Rack::Request#ip (X-Forwarded-For is read only through
  #              hops that Rack::Request.ip_filter trusts: loopback and private addresses).
  #   cost:      an Integer, or ->(request) { Integer } (default 1)
  #   headers:   :ietf (default), :triple, :legacy, :all or :off (ThrottleKit::Headers)
  #   responder: ->(request, decision) { [status, headers, body] } answers a rejection
  #              (default: 429, "Too Many Requests"); the RateLimit headers and Retry-After
  #              are added to what it returns unless it set them. The decision is the denial
  #              with the longest wait; request.env["throttlekit.decisions"] has them all.
  #   rules:     [{ path:, methods:, if:, policy:, key:, cost:, headers:, admit: }, ...]: a
  #              request is limited by the rules it matches (none: not limited). path: a
  #              String prefix ("/api" matches /api and /api/..., not /apix) or a Regexp,
  #              matched against request.path; methods: ["POST", ...]; if: ->(request) {
  #              true/false }; the other keys default to the middleware's options.
  #   match:     :first (default: the first matching rule) or :all (every matching rule, one
  #              all-or-nothing check_all; the middleware's headers: style applies)
  #   logger:    a Logger: one line per shadow-admitted denial (Decision#shadow?)
  #   on_backend_error: when the backend is down (ThrottleKit::Unavailable or Timeout): :allow
  #              (pass the request on, the default) or :reject (503 with Retry-After). A client
  #              with fail_mode :open or :closed answers with a synthesized decision instead.
  #   retry_after_on_error: Retry-After seconds of that 503 (default 1)
  #   admit:     true for a concurrency policy (docs/admission.md): the request holds a slot
  #              until the response body is closed, released as dropped when the app raised
  #              or answered 5xx; a refusal is a rejection like a denial. cost is not used.
  #   window:    deprecated: decisions carry their policy's window (Decision#window_ms); a
  #              number of seconds here only fills RateLimit-Policy's w= when a decision's
  #              window is unknown (0).
  #
  # Events (ActiveSupport::Notifications, only when ActiveSupport is loaded):
  # "check.throttlekit" for every check and "throttled.throttlekit" for every denial that
  # rejects the request, payload { policy:, key:, decision:, request: } (a check that raised
  # has :exception instead of :decision). The Rack env gets "throttlekit.decision" (the one
  # shown in the headers) and "throttlekit.decisions" ([[policy, decision], ...]).
  class Rack
    BACKEND_ERRORS = [ThrottleKit::Unavailable, ThrottleKit::Timeout].freeze

    DEFAULT_KEY = lambda do |request|
      remote = request.get_header("action_dispatch.remote_ip")
      (remote || request.ip).to_s
    end

    DEFAULT_RESPONDER = lambda do |_request, _decision|
      [429, { "content-type" => "text/plain" }, ["Too Many Requests\n"]]
    end

    MATCHES = %i[first all].freeze
    RULE_KEYS = %i[path methods if policy key cost headers admit window].freeze

    # One limit: which requests it applies to (path, methods, if) and how they are checked.
    class Rule
      attr_reader :policy, :key, :cost, :style, :admit, :window

      def initialize(policy:, key:, cost:, style:, admit:, window:, path: nil, methods: nil, if: nil)
        raise ArgumentError, "a rule needs a policy (policy: of the rule or of the middleware)" if policy.to_s.empty?
        raise ArgumentError, "key: must respond to call" unless key.respond_to?(:call)

        @policy = policy.to_s
        @key = key
        @cost = cost
        @style = Headers.style(style)
        @admit = admit ? true : false
        @window = window
        @path = path_matcher(path)
        @methods = methods && Array(methods).map { |m| m.to_s.upcase }.freeze
        @if = binding.local_variable_get(:if)
        raise ArgumentError, "if: must respond to call" if @if && !@if.respond_to?(:call)

        freeze
      end

      def match?(request)
        return false if @methods && !@methods.include?(request.request_method)
        return false if @path && !@path.call(request.path)

        @if ? (@if.call(request) ? true : false) : true
      end

      def cost_for(request)
        @cost.respond_to?(:call) ? @cost.call(request) : @cost
      end

      private

      def path_matcher(path)
        case path
        when nil then nil
        when Regexp then ->(p) { path.match?(p) }
        when String
          prefix = path.chomp("/")
          return ->(_p) { true } if prefix.empty?

          ->(p) { p == prefix || p.start_with?("#{prefix}/") }
        else raise ArgumentError, "path: must be a String prefix or a Regexp, got #{path.inspect}"
        end
      end
    end

    attr_reader :rules

    def initialize(app, client:, policy: nil, key: DEFAULT_KEY, cost: 1, headers: Headers::DEFAULT_STYLE,
                   responder: DEFAULT_RESPONDER, rules: nil, match: :first, logger: nil, window: nil,
                   on_backend_error: :allow, retry_after_on_error: 1, admit: false)
      unless client.is_a?(Client) || client.respond_to?(:call)
        raise ArgumentError, "client: must be a ThrottleKit::Client (or a callable returning one)"
      end
      unless %i[allow reject].include?(on_backend_error)
        raise ArgumentError, "on_backend_error: must be :allow or :reject"
      end
      raise ArgumentError, "responder: must respond to call" unless responder.respond_to?(:call)

      @match = match.to_sym
      raise ArgumentError, "match: must be :first or :all" unless MATCHES.include?(@match)

      @app = app
      @client = client
      @style = Headers.style(headers)
      @responder = responder
      @logger = logger
      @on_backend_error = on_backend_error
      @retry_after_on_error = retry_after_on_error.to_i
      defaults = { policy: policy, key: key, cost: cost, admit: admit, window: window }
      specs = rules.nil? ? [{}] : Array(rules)
      @rules = specs.map { |spec| build_rule(spec, defaults, headers) }.freeze
      if @match == :all && @rules.any?(&:admit)
        raise ArgumentError, "match: :all checks the rules with check_all, which admits no concurrency policy (admit:)"
      end
    end

    def call(env)
      request = ::Rack::Request.new(env)
      checks = []
      @rules.each do |rule|
        next unless rule.match?(request)

        key = rule.key.call(request)
        checks << [rule, key.to_s] unless key.nil?
        break if @match == :first # the first matching rule decides, a nil key included
      end
      return @app.call(env) if checks.empty?

      client = current_client
      if checks.size == 1
        rule, key = checks.first
        return call_admitted(request, client, rule, key) if rule.admit

        call_checked(request, client, rule, key)
      else
        call_all(request, client, checks)
      end
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

    def build_rule(spec, defaults, style)
      raise ArgumentError, "a rule must be a Hash, got #{spec.inspect}" unless spec.is_a?(Hash)

      spec = spec.transform_keys(&:to_sym)
      unknown = spec.keys - RULE_KEYS
      raise ArgumentError, "unknown rule keys #{unknown.inspect} (known: #{RULE_KEYS.inspect})" unless unknown.empty?

      Rule.new(**defaults.merge(spec.slice(:policy, :key, :cost, :admit, :window)),
               style: spec.fetch(:headers, style), path: spec[:path], methods: spec[:methods],
               if: spec[:if])
    end

    def current_client
      client = ThrottleKit.client_override
      return client if client
      return @client if @client.is_a?(Client)

      @client.call
    end

    def call_checked(request, client, rule, key)
      env = request.env
      cost = rule.cost_for(request)
      begin
        decision = instrument("check.throttlekit", policy: rule.policy, key: key, request: request) do |payload|
          payload[:decision] = with_window(client.check(rule.policy, key, cost: cost), rule)
        end
      rescue *BACKEND_ERRORS => e
        return backend_error(env, e)
      end
      finish(request, [[rule.policy, key, decision]], rule.style)
    end

    def call_all(request, client, checks)
      env = request.env
      items = checks.map { |(rule, key)| [rule.policy, key, rule.cost_for(request)] }
      begin
        result = client.check_all(items)
      rescue *BACKEND_ERRORS => e
        checks.each do |(rule, key)|
          instrument("check.throttlekit", policy: rule.policy, key: key, request: request,
                                          exception: [e.class.name, e.message], exception_object: e)
        end
        return backend_error(env, e)
      end
      entries = checks.zip(result.decisions).map do |(rule, key), decision|
        decision = with_window(decision, rule)
        instrument("check.throttlekit", policy: rule.policy, key: key, decision: decision, request: request)
        [rule.policy, key, decision]
      end
      finish(request, entries, @style)
    end

    def call_admitted(request, client, rule, key)
      env = request.env
      begin
        admission = instrument("check.throttlekit", policy: rule.policy, key: key, request: request) do |payload|
          a = client.admit(rule.policy, key)
          payload[:admission] = a
          payload[:decision] = with_window(a.decision, rule)
          a
        end
      rescue *BACKEND_ERRORS => e
        return backend_error(env, e)
      end
      env["throttlekit.admission"] = admission
      decision = with_window(admission.decision, rule)
      entries = [[rule.policy, key, decision]]
      return finish(request, entries, rule.style) unless admission.allowed?

      log_shadow(entries)
      record(env, entries)
      begin
        status, headers, body = @app.call(env)
      rescue Exception # rubocop:disable Lint/RescueException -- released, then re-raised
        admission.release(dropped: true)
        raise
      end
      [status, add_headers(headers, entries, rule.style),
       ReleasingBody.new(body, admission, status.to_i >= 500)]
    end

    # entries: [[policy, key, decision], ...]. A rejection (any denial) goes to the responder;
    # otherwise the app answers. Either way the headers of the style are added.
    def finish(request, entries, style)
      env = request.env
      record(env, entries)
      log_shadow(entries)
      denied = entries.reject { |(_, _, d)| d.allowed? }
      if denied.empty?
        status, headers, body = @app.call(env)
        return [status, add_headers(headers, entries, style), body]
      end

      denied.each do |(policy, key, decision)|
        instrument("throttled.throttlekit", policy: policy, key: key, decision: decision, request: request)
      end
      _, _, worst = denied.max_by.with_index { |(_, _, d), i| [d.retry_after_ms, -i] }
      status, headers, body = @responder.call(request, worst)
      [status, add_headers(headers, entries, style), body]
    end

    def record(env, entries)
      _, shown = Headers.most_restrictive(entries.map { |(p, _, d)| [p, d] })
      env["throttlekit.decision"] = shown || entries.first[2]
      env["throttlekit.decisions"] = entries.map { |(p, _, d)| [p, d] }
    end

    def add_headers(headers, entries, style)
      extra = Headers.for_many(entries.map { |(p, _, d)| [p, d] }, style: style)
      return headers if extra.empty?

      headers = headers.dup if headers.frozen?
      present = headers.keys.map { |k| k.to_s.downcase }
      extra.each { |name, value| headers[name] = value unless present.include?(name) }
      headers
    end

    def backend_error(env, error)
      env["throttlekit.error"] = error
      return @app.call(env) if @on_backend_error == :allow

      [503, { "content-type" => "text/plain", "retry-after" => @retry_after_on_error.to_s },
       ["Service Unavailable\n"]]
    end

    # A decision whose window is unknown (0) gets the rule's window: (seconds), if any.
    def with_window(decision, rule)
      return decision if rule.window.nil? || decision.window_ms.to_i.positive?

      Decision.new(**decision.to_h.merge(window_ms: (rule.window.to_f * 1000).ceil))
    end

    def log_shadow(entries)
      return unless @logger

      entries.each do |(policy, key, d)|
        next unless d.shadow?

        @logger.warn("throttlekit: shadow denial admitted policy=#{policy.inspect} key=#{key.inspect} " \
                     "limit=#{d.limit} remaining=#{d.remaining} retry_after_ms=#{d.retry_after_ms}")
      end
    end

    # ActiveSupport::Notifications.instrument when ActiveSupport is loaded; otherwise runs the
    # block on the payload.
    def instrument(name, payload, &block)
      if defined?(::ActiveSupport::Notifications)
        ::ActiveSupport::Notifications.instrument(name, payload, &block)
      elsif block
        yield payload
      end
    end
  end
end
