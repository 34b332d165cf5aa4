package policy

// Set is an immutable, validated policy file.
type Set struct {
	byName   map[string]*Policy
	names    []string
	warnings []string
}

// Lookup finds a policy by name. The returned Policy is shared by every caller of the Set
// (no copy on the hot path), so it must be treated as read-only.
func (s *Set) Lookup(name string) (*Policy, bool) {
	if s == nil {
		return nil, false
	}
	p, ok := s.byName[name]
	return p, ok
}

// Names lists the policy names in sorted order. The slice is the caller's own.
func (s *Set) Names() []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s.names...)
}

// Warnings lists what loaded but is not fully honoured: ignored top-level blocks and
// policies using features this version does not implement, in file order.
func (s *Set) Warnings() []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s.warnings...)
}

// Len is the number of policies, including unsupported ones.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.names)
}
