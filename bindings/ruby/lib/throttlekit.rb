# frozen_string_literal: true

# ThrottleKit: distributed rate limiting over libthrottlekit (the C ABI), for Ruby and Rack.
#
# Requiring this file loads libthrottlekit (which starts nothing) and never opens a handle:
# handles are opened lazily, per process, by ThrottleKit::Client.
require_relative "throttlekit/version"
require_relative "throttlekit/errors"
require_relative "throttlekit/native"
require_relative "throttlekit/decision"
require_relative "throttlekit/check_all"
require_relative "throttlekit/admission"
require_relative "throttlekit/client"
require_relative "throttlekit/headers"
require_relative "throttlekit/configuration"

module ThrottleKit
  autoload :Rack, File.expand_path("throttlekit/rack", __dir__)
  autoload :Testing, File.expand_path("throttlekit/testing", __dir__)

  class << self
    # A client every ThrottleKit::Rack uses instead of its own (nil: none), set by
    # ThrottleKit::Testing.use_memory! so an application's tests need no Redis.
    attr_accessor :client_override
  end

  # The version of the loaded libthrottlekit, e.g. "0.1.0".
  def self.library_version
    Native.tk_version
  end
end

# Rails: the Railtie (config/throttlekit.yml, the middleware) when Rails is loaded first.
require_relative "throttlekit/railtie" if defined?(::Rails::Railtie)
