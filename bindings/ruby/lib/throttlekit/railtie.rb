# frozen_string_literal: true

require "rails/railtie"
require_relative "configuration"

module ThrottleKit
  # Rails integration, defined by `require "throttlekit"` when Rails is loaded.
  #
  # Settings, in order of precedence: Ruby (config.throttlekit.* in config/application.rb or
  # an environment file, or ThrottleKit.configure { |c| ... } in config/initializers), then
  # config/throttlekit.yml (the current environment's section, ERB allowed; `shared:` too).
  # The middleware (ThrottleKit::Rack) goes at the end of the stack, after
  # ActionDispatch::RemoteIp, so the default key is request.remote_ip (trusted proxies:
  # config.action_dispatch.trusted_proxies). It is built on the first request of each process
  # from the settings as they are then, and so is the client (fork-safe: Puma cluster and
  # Unicorn workers each open their own handle). The logger defaults to Rails.logger.
  class Railtie < ::Rails::Railtie
    config.throttlekit = ThrottleKit.configuration

    # Builds ThrottleKit::Rack from ThrottleKit.configuration on the first request.
    class Middleware
      def initialize(app)
        @app = app
        @inner = nil
        @lock = Mutex.new
      end

      def call(env)
        (@inner || build).call(env)
      end

      private

      def build
        @lock.synchronize do
          @inner ||= begin
            c = ThrottleKit.configuration
            if c.enabled == false || (c.policy.nil? && c.rules.nil?)
              @app
            else
              opts = c.middleware_options
              opts[:logger] ||= ::Rails.logger
              ThrottleKit::Rack.new(@app, **opts)
            end
          end
        end
      end
    end

    initializer "throttlekit.config", before: :load_config_initializers do |app|
      c = ThrottleKit.configuration
      c.root ||= app.root.to_s
      if app.root.join("config", "throttlekit.yml").exist?
        section = app.config_for(:throttlekit)
        c.load(section.to_h, only_unset: true)
      end
    end

    initializer "throttlekit.middleware" do |app|
      app.middleware.use(Middleware) unless ThrottleKit.configuration.middleware == false
    end
  end
end
