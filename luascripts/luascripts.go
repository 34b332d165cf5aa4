// Package luascripts embeds the Lua scripts that compute every ThrottleKit decision, and the
// manifest that names them. The scripts are the product's single source of truth: Redis runs
// them for a fleet, the embedded engine runs the very same bytes in-process.
package luascripts

import (
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
)

//go:embed *.lua parts/*.lua manifest.json
var files embed.FS

// Roles a script can play for a strategy.
const (
	RoleCheck    = "check"
	RolePeek     = "peek"
	RoleForecast = "forecast"
	RoleDebit    = "debit"
	// RoleAdmission is the lease script of concurrency admission (Admit, Release, Heartbeat
	// of one guard; admission.md), a script of its own beside the strategies'.
	RoleAdmission = "admission"
)

// AdmissionName is the manifest name of the admission lease script.
const AdmissionName = "concurrency.admission"

// The federation coordinator's scripts (two-tier.md §6.1): strategy Federated, roles
// RoleLease and RoleReconcile. They keep a budget per window, not a strategy's state.
const (
	Federated     = "federated"
	RoleLease     = "lease"
	RoleReconcile = "reconcile"
)

// Script is one decision script with its manifest entry.
type Script struct {
	Name     string   `json:"name"`     // "<strategy>.<role>", e.g. "gcra.check"
	Strategy string   `json:"strategy"` // gcra, tokenBucket, fixedWindow, slidingWindow, slidingWindowLog, tokenBudget, quota
	Role     string   `json:"role"`     // check, peek, forecast, debit
	File     string   `json:"file"`     // relative to luascripts/
	Keys     []string `json:"keys"`     // KEYS names, in order
	Argv     []string `json:"argv"`     // ARGV names, in order; "now" is always first
	SHA256   string   `json:"sha256"`   // of Source; the drift gate compares them

	Source string `json:"-"` // the file's bytes
	SHA1   string `json:"-"` // hex SHA-1 of Source: the EVALSHA digest
}

// Manifest is the parsed manifest.json.
type Manifest struct {
	ContractVersion string    `json:"contractVersion"`
	Scripts         []*Script `json:"scripts"`
}

var (
	manifest Manifest
	byName   = map[string]*Script{}
)

func init() {
	m, err := load()
	if err != nil {
		// The files are compiled into the binary: this can only be a broken build.
		panic("luascripts: " + err.Error())
	}
	manifest = m
	for _, s := range m.Scripts {
		byName[s.Name] = s
	}
}

func load() (Manifest, error) {
	var m Manifest
	raw, err := files.ReadFile("manifest.json")
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, fmt.Errorf("manifest.json: %w", err)
	}
	for _, s := range m.Scripts {
		if s.File != path.Base(s.File) {
			return m, fmt.Errorf("manifest.json: %s: file %q must sit in luascripts/", s.Name, s.File)
		}
		src, err := files.ReadFile(s.File)
		if err != nil {
			return m, fmt.Errorf("manifest.json: %s: %w", s.Name, err)
		}
		s.Source = string(src)
		sum := sha1.Sum(src)
		s.SHA1 = hex.EncodeToString(sum[:])
	}
	return m, nil
}

// All returns every script in manifest order. The result is shared: do not modify it.
func All() []*Script { return manifest.Scripts }

// ContractVersion is the Lua contract version the scripts implement.
func ContractVersion() string { return manifest.ContractVersion }

// Lookup returns the script for a strategy and role, e.g. ("gcra", "check").
func Lookup(strategy, role string) (*Script, bool) {
	s, ok := byName[strategy+"."+role]
	return s, ok
}

// Files exposes the embedded files (the scripts and manifest.json) read-only.
func Files() embed.FS { return files }
