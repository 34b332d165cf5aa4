# frozen_string_literal: true

module ThrottleKit
  # A slot of a concurrency policy taken by Client#admit (see docs/admission.md). When
  # allowed, it holds the slot until #release, or until its lease expires (2 s unless renewed
  # with Client#heartbeat). A refused admission holds nothing: #release does nothing.
  class Admission
    attr_reader :decision, :lease_id, :lease_expires_at_ms, :binding_axis, :policy, :key

    def initialize(client, policy, key, decision:, lease_id:, lease_expires_at_ms:, binding_axis:,
                   policy_denied:)
      @client = client
      @policy = policy
      @key = key
      @decision = decision
      @lease_id = lease_id
      @lease_expires_at_ms = lease_expires_at_ms
      @binding_axis = binding_axis
      @policy_denied = policy_denied
      @released = false
      @lock = Mutex.new
    end

    def self.from_native(client, policy, key, a)
      new(client, policy, key, decision: Decision.from_native(a[:decision]),
                               lease_id: a[:lease_id].to_s, lease_expires_at_ms: a[:lease_expires_at_ms],
                               binding_axis: a[:binding_axis].to_s, policy_denied: a[:policy_denied] != 0)
    end

    def allowed?
      @decision.allowed?
    end

    # Whether a slot was taken (a lease id was issued).
    def held?
      !@lease_id.empty?
    end

    def policy_denied?
      @policy_denied
    end

    def released?
      @released
    end

    # Gives the slot back; dropped: true says the work failed or timed out (an adaptive
    # ceiling shrinks). Idempotent: only the first call of a held admission reaches the
    # library. Errors propagate; the lease's expiry is the backstop if one happens.
    def release(dropped: false)
      @lock.synchronize do
        return nil if @released

        @released = true
      end
      @client.release(@policy, @key, @lease_id, dropped: dropped) if held?
      nil
    end

    def inspect
      "#<ThrottleKit::Admission #{allowed? ? 'allowed' : "refused by #{@binding_axis}"} " \
        "policy=#{@policy.inspect}#{held? ? " lease=#{@lease_id}" : ''}#{@released ? ' released' : ''}>"
    end
    alias to_s inspect
  end
end
