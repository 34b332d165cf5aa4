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
  s.files = Dir["lib/**/*.rb"] + %w[README.md throttlekit.gemspec]
  # THROTTLEKIT_GEM_NATIVE=1 (`make gem`, after copying libthrottlekit.so.0 and
  # libthrottlekit-core.so into native/): a gem for this platform that carries the library.
  # Otherwise a gem for every platform, which loads the system's libthrottlekit.so.0 (the
  # libthrottlekit0 package, or `make install`), or $THROTTLEKIT_LIB.
  if ENV["THROTTLEKIT_GEM_NATIVE"] == "1"
    native = Dir["native/libthrottlekit.so.0", "native/libthrottlekit-core.so"]
    raise "native/ lacks libthrottlekit.so.0 or libthrottlekit-core.so" unless native.size == 2

    s.files += native
    s.platform = Gem::Platform.local
  end
  s.require_paths = ["lib"]
  s.add_dependency "ffi", "~> 1.15"
end
