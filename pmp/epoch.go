// Epoch tracking: detecting that the gateway lost its mapping state
// (RFC 6887 section 8.5, RFC 6886 section 3.6).

package pmp

import "time"

// EpochInfo is what a Client knows about the gateway's epoch for one
// protocol.
type EpochInfo struct {
	// Protocol is the protocol the epoch was read from.
	Protocol Protocol
	// Known is false until an answer carrying an epoch arrived.
	Known bool
	// Epoch is the last epoch time the gateway sent: seconds since its
	// mapping state began.
	Epoch uint32
	// Resets counts the answers whose epoch showed that the gateway had
	// lost its state (restarted, or changed external address) since the
	// previous answer.
	Resets int
	// LastReset is the local time of the latest such answer; zero if none.
	LastReset time.Time
}

// epochTracker validates successive epoch times from one server. It is not
// safe for concurrent use; the Client guards it.
type epochTracker struct {
	info       EpochInfo
	prevClient time.Time
}

// observe records an epoch time received at local time now and reports
// whether it shows a reset of the server's state. The rules are RFC 6887
// section 8.5 (which generalise RFC 6886 section 3.6): the epoch going back
// by more than one second, or the server's clock and the client's
// disagreeing on the elapsed time by more than 2 s plus 1/16 of it.
func (t *epochTracker) observe(server uint32, now time.Time) bool {
	reset := false
	if t.info.Known {
		prevServer := int64(t.info.Epoch)
		cur := int64(server)
		if cur+1 < prevServer {
			reset = true
		} else {
			clientDelta := int64(now.Sub(t.prevClient) / time.Second)
			if clientDelta < 0 {
				clientDelta = 0
			}
			serverDelta := cur - prevServer
			if clientDelta+2 < serverDelta-serverDelta/16 ||
				serverDelta+2 < clientDelta-clientDelta/16 {
				reset = true
			}
		}
	}
	t.info.Known = true
	t.info.Epoch = server
	t.prevClient = now
	if reset {
		t.info.Resets++
		t.info.LastReset = now
	}
	return reset
}
