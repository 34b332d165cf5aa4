# frozen_string_literal: true

require_relative "native"
require_relative "decision"
require_relative "check_all"
require_relative "admission"

module ThrottleKit
  # A rate limiter reached through one of the two doors: Redis (the policies evaluated by the
  # ThrottleKit Lua scripts in a Redis) or the service (a throttlekit-server), or the embedded
  # engine (Client.memory: the same scripts run in this process, nothing shared).
  #
  #   limiter = ThrottleKit::Client.redis("redis://127.0.0.1:6379/0", policies_file: "policies.yaml")
  #   d = limiter.check("api", request.ip)
  #   halt 429, { "retry-after" => d.retry_after.ceil.to_s } unless d.allowed?
  #
  # Fork safety: constructing a client calls nothing in the library. Its native handle is
  # opened on first use in the current process, so a client built in a preloading master
  # (Puma preload_app!, Unicorn) works in every worker, as long as the master never used it.
  # Once a process has used the library, its forked children cannot (the Go runtime does not
  # survive fork): their calls raise ThrottleKit::Forked.
  #
  # Every method is thread-safe; calls release the GVL while they wait on the network.
  class Client
    FAIL_MODES = { error: Native::FAIL_ERROR, open: Native::FAIL_OPEN,
                   closed: Native::FAIL_CLOSED }.freeze
    INT64_RANGE = (-(2**63)..(2**63 - 1)).freeze
    INT32_MAX = 2**31 - 1
    NUL = "\0".b.freeze
    PTR_SIZE = FFI::Pointer.size
    DECISION_SIZE = Native::Decision.size
    CHECK_ITEM_SIZE = Native::CheckItem.size
    # tk_options_init zeroes the library's sizeof(tk_options_t); a newer library may know more
    # fields than this gem, so the buffer is generously larger than ours. We then declare our
    # own size in struct_size, and the library reads only that.
    OPTIONS_BUFFER = 1024

    FORKED_ADVICE = "this process was forked from one that had already used ThrottleKit, and " \
                    "the library's Go runtime does not survive fork: open or use clients only " \
                    "after fork (construct them anywhere, but make the first call in each " \
                    "worker, e.g. after Puma's on_worker_boot or Unicorn's after_fork)"

    # The native handle, shared with the finalizer: the finalizer holds this object, never the
    # client, so the client can be collected.
    class NativeHandle
      attr_accessor :id, :pid

      def initialize
        @id = 0
        @pid = nil
      end

      # Frees the handle when this process opened it; in a forked child only forgets it (the
      # handle is the parent's, and the library must not be called). Never raises.
      def release
        id = @id
        pid = @pid
        @id = 0
        Native.tk_free(id) if id != 0 && pid == Process.pid
        nil
      rescue StandardError
        nil
      end
    end

    # A finalizer proc that captures only the handle holder.
    def self.finalizer_for(holder)
      proc { holder.release }
    end

    class << self
      # The Redis door. policies: the text of a policy file (or a Hash, dumped as YAML), or
      # policies_file: its path. namespace: a key namespace ("ns" makes keys "ns:<prefix>:<key>").
      # timeout: seconds per call, connecting included (default 0.5). fail_mode: :error (raise
      # Unavailable/Timeout, the default), :open (admit) or :closed (deny) when Redis is down.
      # With a block, yields the client, closes it afterwards and returns the block's value.
      # lease_ttl: seconds an admission's lease lives unless renewed (default 2);
      # lease_heartbeat: true to renew the leases this client admitted, in the background, until
      # they are released or the client is closed. shadow: true admits every check the limiters
      # deny, flagged Decision#shadow? (a rollout switch for every policy).
      def redis(url, policies: nil, policies_file: nil, namespace: nil, timeout: nil,
                fail_mode: :error, tls_ca_file: nil, tls_cert_file: nil, tls_key_file: nil,
                auto_pipeline: true, lease_ttl: nil, lease_heartbeat: false, shadow: false, &block)
        yaml = policies_text(policies, policies_file)
        client = new(:redis, url: url, policies: yaml, key_namespace: namespace,
                             timeout: timeout, fail_mode: fail_mode, tls_ca_file: tls_ca_file,
                             tls_cert_file: tls_cert_file, tls_key_file: tls_key_file,
                             auto_pipeline: auto_pipeline, lease_ttl: lease_ttl,
                             lease_heartbeat: lease_heartbeat, shadow: shadow)
        with_block(client, &block)
      end

      # The embedded engine: no Redis, no server. policies: the text of a policy file (or a
      # Hash), or policies_file: its path. The decisions are the Redis door's (the same Lua
      # scripts), but the state lives in this process only: every process (each forked
      # worker too) has its own store, opened on its first call, so limits are per process.
      # For tests and single-process programs. With a block, as Client.redis.
      def memory(policies: nil, policies_file: nil, lease_ttl: nil, lease_heartbeat: false, shadow: false,
                 &block)
        yaml = policies_text(policies, policies_file)
        client = new(:memory, url: nil, policies: yaml, lease_ttl: lease_ttl, lease_heartbeat: lease_heartbeat,
                              shadow: shadow)
        with_block(client, &block)
      end

      # The service door: throttlekit-server at "host:port". The server holds the policies.
      # tls_ca_file turns TLS on (tls_cert_file/tls_key_file for mutual TLS); auth_token is sent
      # as "authorization: Bearer <token>".
      def service(target, timeout: nil, fail_mode: :error, tls_ca_file: nil, tls_cert_file: nil,
                  tls_key_file: nil, auth_token: nil, auto_pipeline: true, lease_heartbeat: false,
                  shadow: false, &block)
        client = new(:service, url: target, timeout: timeout, fail_mode: fail_mode,
                               tls_ca_file: tls_ca_file, tls_cert_file: tls_cert_file,
                               tls_key_file: tls_key_file, auth_token: auth_token,
                               auto_pipeline: auto_pipeline, lease_heartbeat: lease_heartbeat, shadow: shadow)
        with_block(client, &block)
      end

      private

      def with_block(client)
        return client unless block_given?

        begin
          yield client
        ensure
          client.close
        end
      end

      def policies_text(policies, policies_file)
        if policies && policies_file
          raise InvalidArgument, "give policies: or policies_file:, not both"
        end

        if policies_file
          begin
            File.read(policies_file.to_s)
          rescue SystemCallError, IOError => e
            raise ConfigError, "policies_file #{policies_file}: #{e.message}"
          end
        elsif policies.is_a?(Hash)
          require "yaml"
          YAML.dump(deep_string_keys(policies))
        elsif policies.is_a?(String)
          policies
        else
          raise InvalidArgument, "policies: (the YAML text) or policies_file: is required"
        end
      end

      def deep_string_keys(value)
        case value
        when Hash then value.to_h { |k, v| [k.to_s, deep_string_keys(v)] }
        when Array then value.map { |v| deep_string_keys(v) }
        when Symbol then value.to_s
        else value
        end
      end
    end

    private_class_method :new

    # :redis, :service or :memory
    attr_reader :door

    def initialize(door, url:, policies: nil, key_namespace: nil, timeout: nil, fail_mode: :error,
                   tls_ca_file: nil, tls_cert_file: nil, tls_key_file: nil, auth_token: nil,
                   auto_pipeline: true, lease_ttl: nil, lease_heartbeat: false, shadow: false)
      @door = door
      @url = door == :memory ? nil : c_text(url, door == :redis ? "url" : "target")
      @policies = policies && c_text(policies, "policies")
      @strings = {
        key_namespace: key_namespace && c_text(key_namespace.to_s, "namespace"),
        tls_ca_file: tls_ca_file && c_text(tls_ca_file.to_s, "tls_ca_file"),
        tls_cert_file: tls_cert_file && c_text(tls_cert_file.to_s, "tls_cert_file"),
        tls_key_file: tls_key_file && c_text(tls_key_file.to_s, "tls_key_file"),
        auth_token: auth_token && c_text(auth_token.to_s, "auth_token")
      }.freeze
      @timeout_ms = timeout_ms(timeout)
      @fail_mode = FAIL_MODES.fetch(fail_mode) do
        raise InvalidArgument, "fail_mode must be one of #{FAIL_MODES.keys.inspect}, got #{fail_mode.inspect}"
      end
      @auto_pipeline = auto_pipeline ? 0 : -1
      @lease_ttl_ms = lease_ttl_ms(lease_ttl)
      @lease_heartbeat = lease_heartbeat ? 1 : 0
      @shadow = shadow ? 1 : 0 # every denial admitted, flagged Decision#shadow?
      @closed = false
      @lock = Mutex.new
      @holder = NativeHandle.new
      ObjectSpace.define_finalizer(self, self.class.finalizer_for(@holder))
    end

    # Opens the native handle now (in this process) instead of at the first call, so that a
    # bad policy file or URL raises here. Returns self.
    def open
      native_handle
      self
    end

    # Consumes cost units of policy for key. now_ms: an explicit clock (epoch ms, or a Time)
    # instead of the backend's, for replay and tests (Redis door only).
    def check(policy, key, cost: 1, now_ms: nil)
      p = c_arg(policy, "policy")
      k = c_arg(key, "key")
      c = int64(cost, "cost")
      at = now_ms.nil? ? nil : clock(now_ms)
      out, err = scratch.decision_and_error
      h = native_handle
      rc = if at
             Native.tk_check_at(h, p, k, c, at, out, err)
           else
             Native.tk_check(h, p, k, c, out, err)
           end
      raise failure(rc, err) unless rc == Native::OK

      Decision.from_native(out)
    end

    # check for many keys at one single instant: an Array of Decisions in the order of keys
    # (duplicates apply in order). All or nothing.
    def check_many(policy, keys, cost: 1, now_ms: nil)
      p = c_arg(policy, "policy")
      raise InvalidArgument, "keys must be an Array, got #{keys.class}" unless keys.respond_to?(:to_ary)

      keys = keys.to_ary
      bufs = keys.map { |k| c_arg(k, "key") }
      c = int64(cost, "cost")
      at = now_ms.nil? ? nil : clock(now_ms)
      n = bufs.size
      ptrs = out = nil
      if n.positive?
        blob = FFI::MemoryPointer.new(:char, [bufs.sum { |b| b ? b.bytesize : 0 }, 1].max)
        ptrs = FFI::MemoryPointer.new(:pointer, n)
        off = 0
        bufs.each_with_index do |b, i|
          if b.nil?
            ptrs.put_pointer(i * PTR_SIZE, FFI::Pointer::NULL)
          else
            blob.put_bytes(off, b)
            ptrs.put_pointer(i * PTR_SIZE, blob + off)
            off += b.bytesize
          end
        end
        out = FFI::MemoryPointer.new(DECISION_SIZE, n)
      end
      err = Native::Error.new
      h = native_handle
      rc = if at
             Native.tk_check_many_at(h, p, ptrs, n, c, at, out, err)
           else
             Native.tk_check_many(h, p, ptrs, n, c, out, err)
           end
      raise failure(rc, err) unless rc == Native::OK

      Array.new(n) { |i| Decision.from_native(Native::Decision.new(out + i * DECISION_SIZE)) }
    end

    # Several limits, all or nothing: every item is checked at one instant; when all allow,
    # all are consumed, when any denies, none is. items: an Array of [policy, key],
    # [policy, key, cost], { policy:, key:, cost: } or CheckItem (cost defaults to 1). Returns
    # a CheckAllResult (allowed?, decisions in the order of items, denied_indexes). A denial is
    # a result, never an exception; errors name the item ("items[1]: ...") and consume
    # nothing. now_ms: an explicit clock, as for check. On a Redis Cluster the keys of one call
    # must share a hash tag ({user42}:ip, {user42}:day).
    def check_all(items, now_ms: nil)
      raise InvalidArgument, "items must be an Array, got #{items.class}" unless items.respond_to?(:to_ary)

      entries = items.to_ary.each_with_index.map { |item, i| check_item(item, i) }
      at = now_ms.nil? ? nil : clock(now_ms)
      n = entries.size
      arr = out = blob = nil
      if n.positive?
        # Every policy and key in one buffer, the items pointing into it; both stay referenced
        # (locals) until the call returns.
        blob = FFI::MemoryPointer.new(:char, [entries.sum { |p, k, _| p.to_s.bytesize + k.to_s.bytesize }, 1].max)
        arr = FFI::MemoryPointer.new(CHECK_ITEM_SIZE, n)
        off = 0
        entries.each_with_index do |(p, k, c), i|
          item = Native::CheckItem.new(arr + i * CHECK_ITEM_SIZE)
          item[:policy], off = place(blob, off, p)
          item[:key], off = place(blob, off, k)
          item[:cost] = c
        end
        out = FFI::MemoryPointer.new(DECISION_SIZE, n)
      end
      all = FFI::MemoryPointer.new(:int32)
      err = Native::Error.new
      h = native_handle
      rc = if at
             Native.tk_check_all_at(h, arr, n, at, out, all, err)
           else
             Native.tk_check_all(h, arr, n, out, all, err)
           end
      raise failure(rc, err) unless rc == Native::OK

      decisions = Array.new(n) { |i| Decision.from_native(Native::Decision.new(out + i * DECISION_SIZE)) }
      CheckAllResult.new(allowed: all.read_int32 != 0, decisions: decisions)
    end

    # check_all at an explicit clock (epoch ms, or a Time): replay and tests.
    def check_all_at(items, now_ms)
      raise InvalidArgument, "now_ms is required" if now_ms.nil?

      check_all(items, now_ms: now_ms)
    end

    # The decision a check of cost 1 would get, consuming nothing (token budgets too).
    def peek(policy, key, now_ms: nil)
      p = c_arg(policy, "policy")
      k = c_arg(key, "key")
      at = now_ms.nil? ? nil : clock(now_ms)
      out, err = scratch.decision_and_error
      h = native_handle
      rc = at ? Native.tk_peek_at(h, p, k, at, out, err) : Native.tk_peek(h, p, k, out, err)
      raise failure(rc, err) unless rc == Native::OK

      Decision.from_native(out)
    end

    # How many requests of cost could pass now, and when capacity returns: a Forecast.
    def forecast(policy, key, cost: 1, now_ms: nil)
      p = c_arg(policy, "policy")
      k = c_arg(key, "key")
      c = int64(cost, "cost")
      at = now_ms.nil? ? nil : clock(now_ms)
      out = Native::Forecast.new
      err = scratch.error
      h = native_handle
      rc = if at
             Native.tk_forecast_at(h, p, k, c, at, out, err)
           else
             Native.tk_forecast(h, p, k, c, out, err)
           end
      raise failure(rc, err) unless rc == Native::OK

      Forecast.from_native(out)
    end

    # Debits tokens spent after the fact against a token-budget policy. A denied Decision
    # means the window's budget was already spent (and this debit was not counted).
    def debit(policy, key, tokens, now_ms: nil)
      p = c_arg(policy, "policy")
      k = c_arg(key, "key")
      t = int64(tokens, "tokens")
      at = now_ms.nil? ? nil : clock(now_ms)
      out, err = scratch.decision_and_error
      h = native_handle
      rc = if at
             Native.tk_debit_at(h, p, k, t, at, out, err)
           else
             Native.tk_debit(h, p, k, t, out, err)
           end
      raise failure(rc, err) unless rc == Native::OK

      Decision.from_native(out)
    end

    # Gives back cost units a check consumed (tokens a debit counted, on a token budget), never
    # beyond full: "the request was not processed". Returns the Decision a peek gives right
    # after. Raises Unsupported where the policy's strategy has no refund.
    def refund(policy, key, cost: 1)
      p = c_arg(policy, "policy")
      k = c_arg(key, "key")
      c = int64(cost, "cost")
      out, err = scratch.decision_and_error
      rc = Native.tk_refund(native_handle, p, k, c, out, err)
      raise failure(rc, err) unless rc == Native::OK

      Decision.from_native(out)
    end

    # Forgets the key's state under policy: its limiter is full again ("clear the login
    # counter on success"). Returns nil.
    def reset(policy, key)
      p = c_arg(policy, "policy")
      k = c_arg(key, "key")
      err = scratch.error
      rc = Native.tk_reset(native_handle, p, k, err)
      raise failure(rc, err) unless rc == Native::OK

      nil
    end

    # Stores the override of key under policy, a policy with an overrides: block
    # (docs/policies.md): spec is "unlimited", "deny", or name=value pairs of the strategy's
    # fields ("limit=4", "limit=10,windowMs=1h"), validated as the file's overrides are.
    # ttl_ms: 0 keeps it until clear_override. Every process sharing the store honours it from
    # its next check. Raises Unsupported on a policy without the block or on the service door.
    def set_override(policy, key, spec, ttl_ms: 0)
      p = c_arg(policy, "policy")
      k = c_arg(key, "key")
      s = c_arg(spec, "spec")
      t = int64(ttl_ms, "ttl_ms")
      err = scratch.error
      rc = Native.tk_set_override(native_handle, p, k, s, t, err)
      raise failure(rc, err) unless rc == Native::OK

      nil
    end

    # Removes the override record of key under policy (nothing when there is none).
    def clear_override(policy, key)
      p = c_arg(policy, "policy")
      k = c_arg(key, "key")
      err = scratch.error
      rc = Native.tk_clear_override(native_handle, p, k, err)
      raise failure(rc, err) unless rc == Native::OK

      nil
    end

    # Takes a slot of a concurrency policy (docs/admission.md): an Admission, allowed or
    # refused (binding_axis says by which axis). With a block, yields the admission and
    # releases it when the block ends, dropped when the block raised (the exception
    # propagates); returns the block's value. Without a block, the caller releases it.
    #
    #   limiter.admit("checkout", user_id) do |a|
    #     halt 503 unless a.allowed?
    #     call_the_backend
    #   end
    def admit(policy, key, cost: 1, now_ms: nil)
      p = c_arg(policy, "policy")
      k = c_arg(key, "key")
      c = int64(cost, "cost")
      at = now_ms.nil? ? nil : clock(now_ms)
      out = Native::Admission.new
      err = scratch.error
      h = native_handle
      rc = at ? Native.tk_admit_at(h, p, k, c, at, out, err) : Native.tk_admit(h, p, k, c, out, err)
      raise failure(rc, err) unless rc == Native::OK

      admission = Admission.from_native(self, policy.to_s, key.to_s, out)
      return admission unless block_given?

      raised = true
      begin
        result = yield admission
        raised = false
        result
      ensure
        admission.release(dropped: raised)
      end
    end

    # Gives back the slot of lease_id, admitted with policy and key. Idempotent: an unknown
    # or already released id is fine.
    def release(policy, key, lease_id, dropped: false, now_ms: nil)
      p = c_arg(policy, "policy")
      k = c_arg(key, "key")
      l = c_arg(lease_id, "lease_id")
      at = now_ms.nil? ? nil : clock(now_ms)
      err = scratch.error
      h = native_handle
      d = dropped ? 1 : 0
      rc = at ? Native.tk_release_at(h, p, k, l, d, at, err) : Native.tk_release(h, p, k, l, d, err)
      raise failure(rc, err) unless rc == Native::OK

      nil
    end

    # Renews the leases (ids admitted with policy and key) that are live; returns the ids that
    # are not (released or reclaimed: their work counts as dropped).
    def heartbeat(policy, key, lease_ids, now_ms: nil)
      p = c_arg(policy, "policy")
      k = c_arg(key, "key")
      raise InvalidArgument, "lease_ids must be an Array, got #{lease_ids.class}" unless lease_ids.respond_to?(:to_ary)

      ids = lease_ids.to_ary
      bufs = ids.map { |id| c_arg(id, "lease id") }
      at = now_ms.nil? ? nil : clock(now_ms)
      n = bufs.size
      keep = bufs.map { |b| b && FFI::MemoryPointer.from_string(b.chomp(NUL)) }
      ptrs = FFI::MemoryPointer.new(:pointer, [n, 1].max)
      keep.each_with_index { |m, i| ptrs.put_pointer(i * PTR_SIZE, m || FFI::Pointer::NULL) }
      reclaimed = FFI::MemoryPointer.new(:size_t, [n, 1].max)
      n_reclaimed = FFI::MemoryPointer.new(:size_t)
      err = scratch.error
      h = native_handle
      rc = if at
             Native.tk_heartbeat_at(h, p, k, ptrs, n, at, reclaimed, n_reclaimed, err)
           else
             Native.tk_heartbeat(h, p, k, ptrs, n, reclaimed, n_reclaimed, err)
           end
      raise failure(rc, err) unless rc == Native::OK

      Array.new(n_reclaimed.read(:size_t)) { |i| ids[reclaimed.get(:size_t, i * FFI.type_size(:size_t))] }
    end

    # Releases the native handle (waiting for calls running on it). Idempotent; never raises.
    # In a forked child the handle is the parent's: it is forgotten, the library is not called.
    def close
      @closed = true
      @holder.release
      nil
    rescue StandardError
      nil
    end

    def closed?
      @closed
    end

    def inspect
      "#<ThrottleKit::Client #{@door}#{@closed ? ' closed' : ''}>"
    end
    alias to_s inspect

    private

    # The handle for this process, opened on first use.
    def native_handle
      holder = @holder
      id = holder.id
      return id if id != 0 && holder.pid == Process.pid

      @lock.synchronize { open_here }
    end

    def open_here
      raise ClosedError, "the ThrottleKit client is closed" if @closed

      holder = @holder
      pid = Process.pid
      return holder.id if holder.id != 0 && holder.pid == pid

      # Opened in a parent process: the handle is the parent's and its runtime is gone here.
      # Forget it (never free it); the open below answers TK_E_FORKED.
      holder.id = 0

      out = FFI::MemoryPointer.new(:uint64)
      err = Native::Error.new
      keep = []
      opts = options_struct(keep)
      rc = case @door
           when :redis then Native.tk_open_redis(@url, @policies, opts, out, err)
           when :memory then Native.tk_open_memory(@policies, opts, out, err)
           else Native.tk_open_service(@url, opts, out, err)
           end
      raise failure(rc, err) unless rc == Native::OK

      holder.pid = pid
      holder.id = out.read_uint64
      if @closed # closed while opening
        holder.release
        raise ClosedError, "the ThrottleKit client is closed"
      end
      holder.id
    end

    def options_struct(keep)
      buf = FFI::MemoryPointer.new(:char, OPTIONS_BUFFER)
      Native.tk_options_init(buf)
      opts = Native::Options.new(buf)
      opts[:struct_size] = Native::Options.size
      opts[:timeout_ms] = @timeout_ms
      opts[:fail_mode] = @fail_mode
      opts[:auto_pipeline] = @auto_pipeline
      opts[:lease_ttl_ms] = @lease_ttl_ms
      opts[:lease_heartbeat] = @lease_heartbeat
      opts[:shadow] = @shadow
      @strings.each do |field, value|
        next unless value

        mem = FFI::MemoryPointer.from_string(value)
        keep << mem
        opts[field] = mem
      end
      opts
    end

    def failure(rc, err)
      if rc == Native::E_BADHANDLE && @closed
        ClosedError.new("the ThrottleKit client is closed", status: rc)
      elsif rc == Native::E_FORKED
        e = Native.error_for(rc, err)
        Forked.new("#{e.message}: #{FORKED_ADVICE}", status: rc)
      else
        Native.error_for(rc, err)
      end
    end

    # A policy or key as the library's NUL-terminated bytes (a binary copy with a NUL
    # appended), or nil (the library then answers TK_E_INVALID with its own message). Any
    # bytes pass, except NUL itself, which would silently truncate: InvalidArgument.
    # Output structs reused by every call on the current thread: a call copies what it needs
    # out of them before returning, and a thread makes one call at a time.
    class Scratch
      def self.current
        Thread.current[:throttlekit_scratch] ||= new
      end

      def decision_and_error
        [@decision ||= Native::Decision.new, error]
      end

      def error
        @error ||= Native::Error.new
      end
    end
    private_constant :Scratch

    def scratch
      Scratch.current
    end

    def c_arg(value, what)
      case value
      when String then buf = value.b
      when Symbol then buf = value.to_s.b
      when nil then return nil
      else raise InvalidArgument, "#{what} must be a String, got #{value.class}"
      end
      if buf.include?(NUL)
        raise InvalidArgument, "#{what} contains a NUL byte at offset #{buf.index(NUL)}: " \
                               "it would be truncated"
      end
      buf << NUL
    end

    # One check_all item as [policy bytes, key bytes, cost]; errors name it as the library does.
    def check_item(item, index)
      policy, key, cost =
        case item
        when Array
          unless (2..3).cover?(item.size)
            raise InvalidArgument, "items[#{index}]: expected [policy, key] or [policy, key, cost], " \
                                   "got #{item.size} elements"
          end
          item
        when Hash
          unknown = item.keys - %i[policy key cost]
          raise InvalidArgument, "items[#{index}]: unknown field #{unknown.first.inspect}" unless unknown.empty?

          item.values_at(:policy, :key, :cost)
        when CheckItem then [item.policy, item.key, item.cost]
        else
          raise InvalidArgument, "items[#{index}]: expected an Array, a Hash or a CheckItem, got #{item.class}"
        end
      [c_arg(policy, "items[#{index}]: policy"), c_arg(key, "items[#{index}]: key"),
       int64(cost.nil? ? 1 : cost, "items[#{index}]: cost")]
    end

    # Copies a NUL-terminated c_arg buffer into blob at off: [its pointer (NULL for nil), the
    # next offset].
    def place(blob, off, buf)
      return [FFI::Pointer::NULL, off] if buf.nil?

      blob.put_bytes(off, buf)
      [blob + off, off + buf.bytesize]
    end

    # A String option for tk_open_* (FFI :string / from_string): no NUL inside.
    def c_text(value, what)
      raise InvalidArgument, "#{what} must be a String, got #{value.class}" unless value.is_a?(String)
      raise InvalidArgument, "#{what} contains a NUL byte" if value.b.include?(NUL)

      value.dup.freeze
    end

    def int64(value, what)
      unless value.is_a?(Integer)
        raise InvalidArgument, "#{what} must be an Integer, got #{value.inspect}"
      end
      raise InvalidArgument, "#{what} #{value} is out of range" unless INT64_RANGE.cover?(value)

      value
    end

    def clock(now_ms)
      ms = now_ms.is_a?(Time) ? (now_ms.to_r * 1000).floor : now_ms
      int64(ms, "now_ms")
    end

    def lease_ttl_ms(ttl)
      return 0 if ttl.nil?
      unless ttl.is_a?(Numeric) && ttl.positive? && ttl * 1000 <= INT32_MAX
        raise InvalidArgument, "lease_ttl must be a positive number of seconds, got #{ttl.inspect}"
      end

      (ttl * 1000).ceil
    end

    def timeout_ms(timeout)
      return 0 if timeout.nil?
      unless timeout.is_a?(Numeric) && timeout.positive?
        raise InvalidArgument, "timeout must be a positive number of seconds, got #{timeout.inspect}"
      end

      ms = (timeout * 1000).ceil
      raise InvalidArgument, "timeout #{timeout} s is too long" if ms > INT32_MAX

      ms
    end
  end
end
