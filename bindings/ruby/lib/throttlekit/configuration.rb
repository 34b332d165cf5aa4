# frozen_string_literal: true

module ThrottleKit
  # The application-wide settings the Railtie (and ThrottleKit.client) build from:
  # config/throttlekit.yml, ThrottleKit.configure { |c| ... } or config.throttlekit.* (the
  # same object). A setting made in Ruby wins over the YAML file.
  class Configuration
    # The door, one of: redis_url (Client.redis), service ("host:port", Client.service),
    # memory: true (Client.memory); or client: a ready Client.
    DOOR = %i[client redis_url service memory policies policies_file namespace timeout fail_mode shadow
              auth_token tls_ca_file tls_cert_file tls_key_file].freeze
    # What the middleware gets (ThrottleKit::Rack's options).
    MIDDLEWARE = %i[policy key cost headers responder rules match logger on_backend_error retry_after_on_error
                    admit].freeze
    # enabled: false turns the middleware into a pass-through; middleware: false keeps the
    # Railtie from inserting it (use ThrottleKit::Rack yourself); root: where relative
    # policies_file paths start (the Railtie sets Rails.root).
    OTHER = %i[enabled middleware root].freeze
    SETTINGS = (DOOR + MIDDLEWARE + OTHER).freeze

    SETTINGS.each do |name|
      define_method(name) { @values[name] } unless name == :client # client: below
      define_method(:"#{name}=") do |value|
        @set << name
        @values[name] = value
      end
    end

    def initialize
      @values = { enabled: true, middleware: true }
      @set = []
      @lock = Mutex.new
      @client = nil
    end

    # Settings from a Hash (the YAML file's section): names as in SETTINGS (Strings or
    # Symbols). only_unset: true skips what Ruby code set already. key: "ip" (the default
    # key) or "header:X-Name" (that request header); in rules too.
    def load(hash, only_unset: false)
      hash.to_h.each do |name, value|
        name = name.to_sym
        raise ConfigError, "throttlekit: unknown setting #{name.inspect} (known: #{SETTINGS.join(', ')})" unless SETTINGS.include?(name)
        next if only_unset && @set.include?(name)

        @values[name] = plain(name, value)
      end
      self
    end

    # The client these settings describe, built once (constructing one opens nothing: the
    # handle opens on the first call in each process).
    def client
      @values[:client] || @lock.synchronize { @client ||= build_client }
    end

    # The options of ThrottleKit::Rack (client: resolved per request through ThrottleKit.client).
    def middleware_options
      opts = MIDDLEWARE.to_h { |name| [name, @values[name]] }.compact
      opts[:key] = key_proc(opts[:key]) if opts.key?(:key)
      opts[:rules] = opts[:rules].map { |r| rule(r) } if opts[:rules]
      opts[:headers] = opts[:headers].to_sym if opts[:headers].is_a?(String)
      opts[:match] = opts[:match].to_sym if opts[:match].is_a?(String)
      opts[:on_backend_error] = opts[:on_backend_error].to_sym if opts[:on_backend_error].is_a?(String)
      opts.merge(client: -> { ThrottleKit.client })
    end

    # The policies: the YAML text or the file (relative to root), for Testing.use_memory!.
    def policy_source
      if @values[:policies]
        { policies: @values[:policies] }
      elsif @values[:policies_file]
        { policies_file: path(@values[:policies_file]) }
      else
        {}
      end
    end

    # Forgets the client built from these settings (closing it), e.g. after a change.
    def reset_client!
      old = @lock.synchronize { @client.tap { @client = nil } }
      old&.close
    end

    private

    def build_client
      common = policy_source
      fail_mode = (@values[:fail_mode] || :error).to_sym
      if @values[:redis_url]
        Client.redis(@values[:redis_url], **common, namespace: @values[:namespace], timeout: @values[:timeout],
                                                    fail_mode: fail_mode, shadow: @values[:shadow] ? true : false,
                                                    tls_ca_file: @values[:tls_ca_file],
                                                    tls_cert_file: @values[:tls_cert_file],
                                                    tls_key_file: @values[:tls_key_file])
      elsif @values[:service]
        Client.service(@values[:service], timeout: @values[:timeout], fail_mode: fail_mode,
                                          shadow: @values[:shadow] ? true : false, auth_token: @values[:auth_token],
                                          tls_ca_file: @values[:tls_ca_file], tls_cert_file: @values[:tls_cert_file],
                                          tls_key_file: @values[:tls_key_file])
      elsif @values[:memory]
        Client.memory(**common, shadow: @values[:shadow] ? true : false)
      else
        raise ConfigError, "throttlekit: no door configured: set redis_url, service, memory: true or client"
      end
    end

    def path(file)
      root = @values[:root]
      root && !File.absolute_path?(file.to_s) ? File.join(root.to_s, file.to_s) : file.to_s
    end

    # YAML values arrive as Strings and String-keyed Hashes.
    def plain(_name, value)
      case value
      when Hash then value.to_h { |k, v| [k.to_sym, plain(k, v)] }
      when Array then value.map { |v| plain(nil, v) }
      else value
      end
    end

    def rule(spec)
      spec = spec.to_h.transform_keys(&:to_sym)
      spec[:key] = key_proc(spec[:key]) if spec.key?(:key)
      spec[:headers] = spec[:headers].to_sym if spec[:headers].is_a?(String)
      spec
    end

    def key_proc(key)
      return key if key.respond_to?(:call)

      case key.to_s
      when "ip" then ThrottleKit::Rack::DEFAULT_KEY
      when /\Aheader:(.+)\z/
        env_name = "HTTP_#{Regexp.last_match(1).strip.upcase.tr('-', '_')}"
        ->(request) { request.get_header(env_name) }
      else raise ConfigError, "throttlekit: key must be \"ip\", \"header:<Name>\" or a proc, got #{key.inspect}"
      end
    end
  end

  class << self
    # The application's settings (one per process).
    def configuration
      @configuration ||= Configuration.new
    end

    # ThrottleKit.configure { |c| c.redis_url = ENV["REDIS_URL"]; c.policy = "api" }
    def configure
      yield configuration
      configuration
    end

    # The client the Railtie's middleware uses: ThrottleKit::Testing's override if set, else
    # the one the configuration describes.
    def client
      client_override || configuration.client
    end
  end
end
