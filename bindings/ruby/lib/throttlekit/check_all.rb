# frozen_string_literal: true

module ThrottleKit
  # One entry of Client#check_all, when a named form reads better than [policy, key, cost]:
  #
  #   ThrottleKit::CheckItem.new(policy: "per_ip", key: ip)          # cost nil: 1
  CheckItem = Struct.new(:policy, :key, :cost, keyword_init: true)

  # The outcome of Client#check_all: every limit decided at one instant, all consumed or none.
  # Immutable (frozen). Enumerable over the decisions, in the order of the items.
  #
  #   r = client.check_all([["per_ip", ip], ["per_account", account_id, 2]])
  #   halt 429, { "retry-after" => r.retry_after.ceil.to_s } unless r.allowed?
  class CheckAllResult
    include Enumerable

    # Array of Decision, one per item, in order. When the result is denied, an entry that
    # allowed reports the remaining it would have left (nothing was consumed).
    attr_reader :decisions

    def initialize(allowed:, decisions:)
      @allowed = allowed ? true : false
      @decisions = decisions.dup.freeze
      freeze
    end

    # True when every item allowed, and so every item was consumed.
    def allowed?
      @allowed
    end

    # True when some item denied, and so none was consumed.
    def denied?
      !@allowed
    end

    # The indexes of the items that denied ([] when allowed).
    def denied_indexes
      @decisions.each_index.reject { |i| @decisions[i].allowed? }
    end

    # How long until every denying item could pass, in ms: the largest retry_after_ms among
    # them (0 when allowed). All or nothing means the slowest limit decides the wait.
    def retry_after_ms
      @decisions.map(&:retry_after_ms).max || 0
    end

    # retry_after_ms in seconds.
    def retry_after
      retry_after_ms / 1000.0
    end

    def each(&block)
      return enum_for(:each) unless block

      @decisions.each(&block)
      self
    end

    def [](index)
      @decisions[index]
    end

    def size
      @decisions.size
    end
    alias length size

    def to_h
      { allowed: @allowed, decisions: @decisions.map(&:to_h) }
    end

    def ==(other)
      other.is_a?(CheckAllResult) && other.to_h == to_h
    end
    alias eql? ==

    def hash
      to_h.hash
    end

    def inspect
      "#<ThrottleKit::CheckAllResult #{@allowed ? 'allowed' : "denied at #{denied_indexes.inspect}"} " \
        "decisions=#{@decisions.inspect}>"
    end
    alias to_s inspect
  end
end
