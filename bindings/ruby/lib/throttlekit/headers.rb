# frozen_string_literal: true

module ThrottleKit
  # The RateLimit response headers of a decision, in one of the styles of docs/headers.md
  # (the same choices as the C helper tk_format_headers, the PHP middleware and nginx; the
  # cases of contract/rate-limit-headers.json are its tests).
  #
  #   ThrottleKit::Headers.for(decision, policy: "api", style: :triple)
  #   # => { "ratelimit-limit" => "5", "ratelimit-remaining" => "4", "ratelimit-reset" => "1" }
  #   ThrottleKit::Headers.for_many([["per_ip", d1], ["per_account", d2]], style: :ietf)
  #
  # Styles: :ietf (the default: RateLimit-Policy and RateLimit, the IETF structured fields),
  # :triple (RateLimit-Limit/-Remaining/-Reset in seconds), :legacy (X-RateLimit-*, the reset
  # in epoch seconds), :all, :off (nothing). Every rejection gets Retry-After (whole seconds,
  # at least 1) unless :off; a synthesized decision (a fail mode's) gets no RateLimit field.
  # Names are lower case (Rack 3 requires it; HTTP compares them case-insensitively).
  module Headers
    STYLES = %i[ietf triple legacy all off].freeze
    DEFAULT_STYLE = :ietf

    module_function

    # The style as a Symbol of STYLES: a Symbol or String of those words, nil (the default,
    # :ietf), or true/"on" (as nginx's `throttlekit_headers on`: :ietf) and false (:off).
    def style(value)
      case value
      when nil, true then DEFAULT_STYLE
      when false then :off
      else
        word = value.to_s.strip.downcase
        return DEFAULT_STYLE if word == "on"

        sym = word.to_sym
        return sym if STYLES.include?(sym)

        raise ArgumentError, "headers: must be one of #{STYLES.map(&:inspect).join(', ')}, got #{value.inspect}"
      end
    end

    # The headers of one decision of policy, as a Hash of lower-case name => value. now_ms:
    # the epoch milliseconds the reset counts from (default: the clock now).
    def for(decision, policy:, style: DEFAULT_STYLE, now_ms: nil)
      for_many([[policy, decision]], style: style, now_ms: now_ms)
    end

    # The headers of several decisions on one response (check_all, several rules), given as
    # [[policy, decision], ...] in rule order: ietf lists one member per policy; triple and
    # legacy show the most restrictive decision (the fewest remaining, the first of equals);
    # Retry-After is the longest wait among the rejections.
    def for_many(entries, style: DEFAULT_STYLE, now_ms: nil)
      style = style(style)
      headers = {}
      return headers if style == :off || entries.empty?

      now_ms ||= Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond)
      decided = entries.reject { |(_, d)| d.synthesized? }
      unless decided.empty?
        ietf(headers, decided, now_ms) if %i[ietf all].include?(style)
        _, tightest = most_restrictive(decided)
        triple(headers, tightest, now_ms) if %i[triple all].include?(style)
        legacy(headers, tightest) if %i[legacy all].include?(style)
      end
      rejected = entries.map(&:last).reject(&:allowed?)
      headers["retry-after"] = rejected.map { |d| retry_after_seconds(d) }.max.to_s unless rejected.empty?
      headers
    end

    # The entry ([policy, decision]) triple and legacy show: the fewest remaining among the
    # decisions the limiter made (not synthesized), the first of equals; nil when none.
    def most_restrictive(entries)
      entries.each_with_index.reject { |((_, d), _)| d.synthesized? }
             .min_by { |((_, d), i)| [d.remaining, i] }&.first
    end

    # Retry-After of a rejection: max(1, ceil(retry_after_ms / 1000)).
    def retry_after_seconds(decision)
      [ceil_div(decision.retry_after_ms, 1000), 1].max
    end

    # Seconds until the limiter is full again, counted from now_ms: max(0, ceil(...)).
    def seconds_to_reset(decision, now_ms)
      [ceil_div(decision.reset_at_ms - now_ms, 1000), 0].max
    end

    # The policy name as a structured-field string (RFC 8941 sf-string): quoted, with " and \
    # escaped.
    def sf_string(name)
      "\"#{name.to_s.gsub(/["\\]/) { |c| "\\#{c}" }}\""
    end

    def ietf(headers, entries, now_ms)
      policies = entries.map do |(policy, d)|
        member = +"#{sf_string(policy)};q=#{d.limit}"
        member << ";w=#{ceil_div(d.window_ms, 1000)}" if d.window_ms.to_i.positive?
        member
      end
      states = entries.map { |(policy, d)| "#{sf_string(policy)};r=#{d.remaining};t=#{seconds_to_reset(d, now_ms)}" }
      headers["ratelimit-policy"] = policies.join(", ")
      headers["ratelimit"] = states.join(", ")
    end

    def triple(headers, decision, now_ms)
      headers["ratelimit-limit"] = decision.limit.to_s
      headers["ratelimit-remaining"] = decision.remaining.to_s
      headers["ratelimit-reset"] = seconds_to_reset(decision, now_ms).to_s
    end

    def legacy(headers, decision)
      headers["x-ratelimit-limit"] = decision.limit.to_s
      headers["x-ratelimit-remaining"] = decision.remaining.to_s
      headers["x-ratelimit-reset"] = ceil_div(decision.reset_at_ms, 1000).to_s
    end

    # ceil(a / b) for b > 0, exact in integers (negative a rounds toward +infinity too).
    def ceil_div(a, b)
      -(-a.to_i).div(b)
    end

    private_class_method :ietf, :triple, :legacy
  end
end
