# frozen_string_literal: true

require_relative "test_helper"

# Clients dropped without close are freed by their finalizer: no native handle stays behind.
class TestGC < Minitest::Test
  POLICIES = "limiters:\n  api: { strategy: gcra, limit: 5, period: 1s }\n"

  def handle_of(client)
    client.instance_variable_get(:@holder).id
  end

  # Opens n clients in a separate frame (so no stack slot keeps them) and returns their ids.
  def open_and_drop(n)
    Array.new(n) do
      c = ThrottleKit::Client.redis("redis://127.0.0.1:1/0", policies: POLICIES).open
      handle_of(c)
    end
  end

  def test_dropped_clients_free_their_handles
    ids = open_and_drop(300)
    assert_equal 300, ids.uniq.size
    assert(ids.none?(&:zero?))
    live = ids
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
    while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
      GC.start(full_mark: true, immediate_sweep: true)
      Thread.pass
      sleep 0.05
      # tk_free of a handle the finalizer already freed answers TK_E_BADHANDLE. Probing frees
      # the survivors, so it is done once at the end only.
      break if ObjectSpace.each_object(ThrottleKit::Client).count { |c| ids.include?(handle_of(c)) } < 5
    end
    live = ids.map { |id| ThrottleKit::Native.tk_free(id) }
    freed = live.count(ThrottleKit::Native::E_BADHANDLE)
    # A conservative GC may keep a few objects reachable from a stale stack slot.
    assert_operator freed, :>=, 295, "only #{freed} of 300 handles were freed by finalizers"
  end

  def test_close_then_gc_and_finalizer_of_never_opened_clients
    c = ThrottleKit::Client.redis("redis://127.0.0.1:1/0", policies: POLICIES).open
    id = handle_of(c)
    c.close
    assert_equal ThrottleKit::Native::E_BADHANDLE, ThrottleKit::Native.tk_free(id)
    500.times { ThrottleKit::Client.redis("redis://127.0.0.1:1/0", policies: POLICIES) }
    GC.start
    # the finalizer proc captures the handle holder, never the client
    holder = c.instance_variable_get(:@holder)
    fin = ThrottleKit::Client.finalizer_for(holder)
    assert_nil fin.call(1)
    refute_kind_of ThrottleKit::Client, fin.binding.receiver
    assert_same holder, fin.binding.local_variable_get(:holder)
  end
end
