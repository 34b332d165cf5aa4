package cabi

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/front"
)

// handle is one open tk_handle_t. Its state counts the calls running on it; tk_free sets
// closedBit, after which no call can start, and waits until the count drains to zero.
type handle struct {
	door     front.Door
	failMode front.FailMode
	timeout  time.Duration    // per call; bounds asynchronous checks too (async.go)
	queue    bool             // the shim may submit its tk_checks (queue.go)
	shadow   bool             // tk_options_t.shadow: every check's denial admitted, flagged
	pump     *leasePump       // renews admitted leases (lease_pump.go); nil unless lease_heartbeat
	admits   admissionChecker // the door's verdict on an admission's input; nil: the server's
	override front.Overrider  // stores override records (overrides.go); nil on the service door
	// inlineAdmits: asynchronous admissions run on the caller's thread (the embedded engine)
	inlineAdmits bool
	state        atomic.Int64
	drained      chan struct{}
	once         sync.Once
}

const closedBit = int64(1) << 62

// checked is a check's decision as the handle answers it: under its shadow switch a denial
// is admitted, flagged TK_DECISION_SHADOW.
func (h *handle) checked(d front.Decision) front.Decision {
	if h.shadow {
		return front.Shade(d)
	}
	return d
}

// shadowItems marks every item as a shadow's under the handle's switch, so that an item
// that denies refuses no other.
func (h *handle) shadowItems(items []front.CheckItem) {
	for i := range items {
		items[i].Shadow = items[i].Shadow || h.shadow
	}
}

// acquire registers a call; false once the handle is closing.
func (h *handle) acquire() bool {
	for {
		s := h.state.Load()
		if s&closedBit != 0 {
			return false
		}
		if h.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

func (h *handle) release() {
	if h.state.Add(-1) == closedBit {
		h.once.Do(func() { close(h.drained) })
	}
}

// closeAndWait stops new calls and returns when the running ones are done.
func (h *handle) closeAndWait() {
	for {
		s := h.state.Load()
		if h.state.CompareAndSwap(s, s|closedBit) {
			break
		}
	}
	if h.state.Load() == closedBit {
		h.once.Do(func() { close(h.drained) })
	}
	<-h.drained
}

// The registry maps handle numbers to handles. Numbers are never reused within a process
// (a 64-bit counter from a random start), so a freed or forged number finds nothing: it can
// never reach another handle's state or any memory.
var (
	handles    sync.Map // uint64 -> *handle
	nextHandle atomic.Uint64
)

func init() {
	var b [8]byte
	_, _ = rand.Read(b[:])
	// A random start in the low 48 bits keeps numbers exact in a double (Ruby, PHP, JSON) and
	// makes a guessed number unlikely to name a live handle.
	nextHandle.Store(binary.LittleEndian.Uint64(b[:]) & (1<<48 - 1))
}

func register(h *handle) uint64 {
	h.drained = make(chan struct{})
	for {
		id := nextHandle.Add(1)
		if id == 0 {
			continue
		}
		if _, taken := handles.LoadOrStore(id, h); !taken {
			lendSlots(id, h)
			return id
		}
	}
}

// lookup acquires the live handle id names; the caller must release it.
func lookup(id uint64) (*handle, bool) {
	v, ok := handles.Load(id)
	if !ok {
		return nil, false
	}
	h := v.(*handle)
	if !h.acquire() {
		return nil, false
	}
	return h, true
}

// unregister removes id and closes its handle once the calls running on it are done.
func unregister(id uint64) bool {
	v, ok := handles.LoadAndDelete(id)
	if !ok {
		return false
	}
	h := v.(*handle)
	h.closeAndWait()
	if h.pump != nil {
		h.pump.close() // the handle's leases expire from now on
	}
	async := shutdownAsync(id) // completes its asynchronous calls
	_ = h.door.Close()         // ends the checks still running for them
	if async != nil {
		async.running.Wait()
	}
	return true
}
