//go:build !unix

package ledger

// lockFile does not lock where flock is missing: Ledgers sharing a file
// there may lose each other's changes (the file itself stays whole).
func lockFile(string) (unlock func(), err error) { return func() {}, nil }
