package holepunch

import "context"

// MaxSignalSize is the largest message a Signaler must carry. Messages
// produced by this package stay below it; a Signaler may refuse larger ones.
const MaxSignalSize = 4096

// Signaler carries small opaque messages between two peers named by IDs, so
// that they can agree on an attempt (candidates, a fresh key, a start time)
// before they probe each other. The node may plug in any channel it already
// has (a DHT, gossip, a relayed connection); package rendezvous provides a
// small server and a client for nodes without one.
//
// holepunch encodes and authenticates what it sends; a Signaler only has to
// move bytes. Delivery may be lossy or reordered: an attempt whose messages
// are lost fails at its deadline. A Signaler must be safe for concurrent use
// by one sender and one receiver.
type Signaler interface {
	// Send delivers msg (at most MaxSignalSize bytes) to the peer named to.
	// It may return before the peer has read it.
	Send(ctx context.Context, to string, msg []byte) error
	// Recv blocks until a message addressed to this node arrives and returns
	// it with its sender's ID, or returns ctx's error, or an error when the
	// channel is closed.
	Recv(ctx context.Context) (from string, msg []byte, err error)
}
