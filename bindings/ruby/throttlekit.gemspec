# frozen_string_literal: true

require_relative "lib/throttlekit/version"

Gem::Specification.new do |s|
  s.name = "throttlekit"
  s.version = ThrottleKit::VERSION
  s.summary = "Distributed rate limiting for Ruby and Rack, over libthrottlekit"
  s.description = "ThrottleKit's Redis door, service door (throttlekit-server) and embedded " \
                  "engine through the libthrottlekit C ABI, with the ffi gem: Client, Decision, " \
                  "Forecast, all-or-nothing check_all, typed errors, fork-safe lazy handles, " \
                  "and a Rack middleware."
  s.authors = ["ThrottleKit contributors"]
  s.license = "Apache-2.0"
  s.required_ruby_version = ">= 2.7"
  # native/ holds libthrottlekit.so(.0) and libthrottlekit-core.so when they are bundled
  # (copied there before `gem build`); without them the library comes from $THROTTLEKIT_LIB
  # or the system path.
  s.files = Dir["lib/**/*.rb"] + Dir["native/*.so*"] + %w[README.md throttlekit.gemspec]
  s.require_paths = ["lib"]
  s.add_dependency "ffi", "~> 1.15"
end
