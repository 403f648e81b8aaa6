package holepunch

// The sentinel errors.

import (
	"errors"
	"net"
)

// Sentinel errors, for errors.Is.
var (
	// ErrNoDirectPath means the checks found no pair that works both ways
	// before the attempt's deadline: typically both peers map
	// endpoint-dependently, or a filter drops every check. Fall back to a
	// relay.
	ErrNoDirectPath = errors.New("holepunch: no direct path")
	// ErrNoAnswer means the peer did not answer the offer before the
	// deadline (it is offline, or the signalling lost the messages).
	ErrNoAnswer = errors.New("holepunch: peer did not answer")
	// ErrRefused means the peer refused the offer (Config.AcceptFrom, or too
	// many attempts at once).
	ErrRefused = errors.New("holepunch: peer refused the attempt")
	// ErrPathLost means an established Path heard nothing authenticated
	// from the peer for Config.KeepaliveTimeout.
	ErrPathLost = errors.New("holepunch: path lost")
	// ErrClosed means the Puncher or the Path was closed. It matches
	// net.ErrClosed too.
	ErrClosed error = closedError{}
)

type closedError struct{}

func (closedError) Error() string { return "holepunch: closed" }
func (closedError) Unwrap() error { return net.ErrClosed }
