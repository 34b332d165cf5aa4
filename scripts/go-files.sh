#!/usr/bin/env bash
# go-files.sh PACKAGE...: prints, one per line, every file `go build PACKAGE` reads from this
# module: the Go, cgo, C, C++, assembly, header, syso and embedded files of each package the
# packages depend on (themselves included) that lives in the main module, and each such
# package's directory (a file added or removed changes it). Derived from `go list -deps`, so
# it follows the packages wherever they move. Exits non-zero, printing nothing, when go list
# fails. The Makefile uses it for the Go core's prerequisites.
set -euo pipefail

GO=${GO:-go}
# One template line per package: its directory, then its files under that directory.
template='{{if and .Module .Module.Main}}{{$d := .Dir}}{{$d}}
{{range .GoFiles}}{{$d}}/{{.}}
{{end}}{{range .CgoFiles}}{{$d}}/{{.}}
{{end}}{{range .CFiles}}{{$d}}/{{.}}
{{end}}{{range .CXXFiles}}{{$d}}/{{.}}
{{end}}{{range .SFiles}}{{$d}}/{{.}}
{{end}}{{range .HFiles}}{{$d}}/{{.}}
{{end}}{{range .SysoFiles}}{{$d}}/{{.}}
{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}
{{end}}{{end}}'

out=$("$GO" list -deps -f "$template" "$@")
printf '%s\n' "$out" | sed '/^$/d'
