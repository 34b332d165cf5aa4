# frozen_string_literal: true

module ThrottleKit
  # Converts the library's epoch milliseconds to a Time (nil for 0: "not known").
  module TimeConv
    module_function

    def time_or_nil(ms)
      ms.zero? ? nil : Time.at(ms / 1000, (ms % 1000) * 1000, :usec)
    end
  end

  # The outcome of a check, peek or debit. Immutable (frozen).
  class Decision
    # window_ms: the policy's window (RateLimit-Policy's w=), 0 when unknown.
    attr_reader :limit, :remaining, :reset_at_ms, :retry_after_ms, :window_ms

    def initialize(allowed:, limit:, remaining:, reset_at_ms:, retry_after_ms:, synthesized: false,
                   shadow: false, local: false, window_ms: 0, override: false)
      @allowed = allowed ? true : false
      @limit = limit
      @remaining = remaining
      @reset_at_ms = reset_at_ms
      @retry_after_ms = retry_after_ms
      @synthesized = synthesized ? true : false
      @shadow = shadow ? true : false
      @local = local ? true : false
      @window_ms = window_ms
      @override = override ? true : false
      freeze
    end

    # Builds a Decision from a Native::Decision (tk_decision_t).
    def self.from_native(d)
      new(allowed: d[:allowed] != 0, limit: d[:limit], remaining: d[:remaining],
          reset_at_ms: d[:reset_at_ms], retry_after_ms: d[:retry_after_ms],
          synthesized: (d[:flags] & Native::DECISION_SYNTHESIZED) != 0,
          shadow: (d[:flags] & Native::DECISION_SHADOW) != 0,
          local: (d[:flags] & Native::DECISION_LOCAL) != 0, window_ms: d[:window_ms],
          override: (d[:flags] & Native::DECISION_OVERRIDE) != 0)
    end

    def allowed?
      @allowed
    end

    def denied?
      !@allowed
    end

    # Made by a fail mode (the backend was down), not by the limiter.
    def synthesized?
      @synthesized
    end

    # A shadow-mode policy (shadow: true) denied, and the call was admitted anyway: remaining
    # and retry_after_ms are the limiter's, to log what would have happened.
    def shadow?
      @shadow
    end

    # Answered from credits or a denial this process holds (a two-tier policy), without a
    # round trip.
    def local?
      @local
    end

    # The key's override decided: a record set in the store or the policy file's overrides:
    # entry for the key (unlimited, deny, or other fields of the strategy).
    def override?
      @override
    end

    # When the limiter is fully replenished, or nil when the library does not know (0).
    def reset_at
      TimeConv.time_or_nil(@reset_at_ms)
    end

    # How long to wait before a retry can pass, in seconds (0.0 when allowed).
    def retry_after
      @retry_after_ms / 1000.0
    end

    def to_h
      { allowed: @allowed, limit: @limit, remaining: @remaining, reset_at_ms: @reset_at_ms,
        retry_after_ms: @retry_after_ms, synthesized: @synthesized, shadow: @shadow,
        local: @local, window_ms: @window_ms, override: @override }
    end

    def ==(other)
      other.is_a?(Decision) && other.to_h == to_h
    end
    alias eql? ==

    def hash
      to_h.hash
    end

    def inspect
      "#<ThrottleKit::Decision #{@allowed ? 'allowed' : 'denied'} limit=#{@limit} " \
        "remaining=#{@remaining} reset_at_ms=#{@reset_at_ms} retry_after_ms=#{@retry_after_ms}" \
        "#{@synthesized ? ' synthesized' : ''}>"
    end
    alias to_s inspect
  end

  # What a limiter can still give, consuming nothing. Immutable (frozen).
  class Forecast
    attr_reader :spendable_now, :next_replenish_at_ms, :full_at_ms

    def initialize(spendable_now:, next_replenish_at_ms:, full_at_ms:)
      @spendable_now = spendable_now
      @next_replenish_at_ms = next_replenish_at_ms
      @full_at_ms = full_at_ms
      freeze
    end

    def self.from_native(f)
      new(spendable_now: f[:spendable_now], next_replenish_at_ms: f[:next_replenish_at_ms],
          full_at_ms: f[:full_at_ms])
    end

    # Time of the next replenishment (nil when 0).
    def next_replenish_at
      TimeConv.time_or_nil(@next_replenish_at_ms)
    end

    # Time at which the limiter is full again (nil when 0).
    def full_at
      TimeConv.time_or_nil(@full_at_ms)
    end

    def to_h
      { spendable_now: @spendable_now, next_replenish_at_ms: @next_replenish_at_ms,
        full_at_ms: @full_at_ms }
    end

    def ==(other)
      other.is_a?(Forecast) && other.to_h == to_h
    end
    alias eql? ==

    def hash
      to_h.hash
    end

    def inspect
      "#<ThrottleKit::Forecast spendable_now=#{@spendable_now} " \
        "next_replenish_at_ms=#{@next_replenish_at_ms} full_at_ms=#{@full_at_ms}>"
    end
    alias to_s inspect
  end
end
