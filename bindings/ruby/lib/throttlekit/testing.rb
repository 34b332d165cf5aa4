# frozen_string_literal: true

require_relative "../throttlekit"

module ThrottleKit
  # Tests of an application without Redis: every ThrottleKit::Rack (the Railtie's included)
  # and ThrottleKit.client use an embedded memory-door client instead of their own.
  #
  #   require "throttlekit/testing"
  #   ThrottleKit::Testing.use_memory!                     # the configured policies
  #   ThrottleKit::Testing.use_memory!(policies: yaml)     # or these
  #   ThrottleKit::Testing.reset!                          # fresh counters
  #   ThrottleKit::Testing.restore!                        # back to the real client
  #
  # Minitest: `include ThrottleKit::Testing::Minitest` in a test class: each test starts with
  # fresh memory (the configured policies, or the class's throttlekit_policies). RSpec:
  # `before { ThrottleKit::Testing.use_memory! }` and `after { ThrottleKit::Testing.restore! }`.
  module Testing
    @lock = Mutex.new
    @source = nil

    class << self
      # Swaps in a new memory-door client (policies:, policies_file:, or by default the
      # configuration's policies) and returns it. The previous memory client is closed.
      def use_memory!(policies: nil, policies_file: nil, shadow: false)
        source = if policies then { policies: policies }
                 elsif policies_file then { policies_file: policies_file }
                 else ThrottleKit.configuration.policy_source
                 end
        raise ConfigError, "use_memory!: give policies: or policies_file: (nothing is configured)" if source.empty?

        client = Client.memory(**source, shadow: shadow)
        old = @lock.synchronize do
          @source = source.merge(shadow: shadow)
          ThrottleKit.client_override.tap { ThrottleKit.client_override = client }
        end
        old&.close
        client
      end

      # A fresh memory client with the same policies: every counter starts over.
      def reset!
        source = @lock.synchronize { @source }
        raise ConfigError, "reset!: use_memory! first" unless source

        use_memory!(**source)
      end

      # Closes the memory client; the middleware uses its own client again.
      def restore!
        old = @lock.synchronize do
          @source = nil
          ThrottleKit.client_override.tap { ThrottleKit.client_override = nil }
        end
        old&.close
        nil
      end

      # use_memory! for the block, restored afterwards; yields the client.
      def with_memory(**opts)
        client = use_memory!(**opts)
        yield client
      ensure
        restore!
      end

      def active?
        !ThrottleKit.client_override.nil?
      end
    end

    # Minitest lifecycle hooks: use_memory! before each test, restore! after it. A test class
    # may define throttlekit_policies (the YAML text) to use other policies.
    module Minitest
      def before_setup
        super
        yaml = respond_to?(:throttlekit_policies) ? throttlekit_policies : nil
        ThrottleKit::Testing.use_memory!(policies: yaml)
      end

      def after_teardown
        ThrottleKit::Testing.restore!
        super
      end
    end
  end
end
