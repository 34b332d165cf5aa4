# frozen_string_literal: true

# A tiny Rails app for test/test_rails.rb: ThrottleKit through its Railtie, configured by
# config/throttlekit.yml, served by Puma in cluster mode (config/puma.rb).
require "logger"
require "ipaddr"
require "rails"
require "action_controller/railtie"
require "throttlekit" # after Rails: defines ThrottleKit::Railtie

module TKProof
  class Application < Rails::Application
    config.root = File.expand_path("..", __dir__)
    config.eager_load = false
    config.secret_key_base = "0" * 64
    config.hosts.clear # development would block the test requests' hosts
    config.logger = Logger.new($stdout, level: :warn)
    # Rails' remote_ip trusts these proxies (and only these): loopback, where the test's
    # requests come from, and 192.0.2.1, an address Rack::Request#ip would not trust.
    config.action_dispatch.trusted_proxies = [IPAddr.new("127.0.0.1"), IPAddr.new("::1"), IPAddr.new("192.0.2.1")]
  end
end
