// Package rendezvous is a small signalling server and client for nodes that
// have no channel of their own to agree on a hole-punching attempt: the
// Client implements holepunch.Signaler over one TCP connection to a Server.
//
// The protocol is this package's own (no RFC): length-prefixed binary
// frames (2-byte length, type, body; at most a peer ID and
// holepunch.MaxSignalSize bytes of message). A client opens with a hello that
// registers its peer ID (1 to MaxIDLen bytes of a URL-safe charset, see
// ValidID); the server answers with a welcome carrying the address it saw
// the connection come from. Each message a client sends is acknowledged:
// Send returns nil once the server has queued it for the peer, or
// ErrPeerUnknown, ErrQueueFull or ErrTooLarge. Messages are delivered at
// most once and may be lost when a queue overflows or a connection drops,
// which the Signaler contract allows.
//
// Limits, all in ServerConfig and Config with documented defaults: a cap on
// connections, a bounded queue per peer (a client that does not read is
// refused messages, then disconnected after WriteTimeout: it never slows the
// others), a hello timeout, an idle timeout kept at bay by the client's
// pings, and a deadline on every write.
//
// A second connection with an ID already registered replaces the first
// (whose Recv then returns an error matching ErrReplaced and
// ErrDisconnected): a node that lost its connection can come back at once.
// Such IDs (names) are therefore not authenticated. A peer ID
// (holepunch.PeerID, the text form of an ed25519 key) is different: a
// client registers it only by signing the server's challenge with the key
// (Config.Identity), so only the key's holder can take it over, and it may
// bind a human name to the key (Config.Name; held for the key while it is
// connected and ServerConfig.NameGrace, 1 h, after it left; Client.Resolve
// finds the peer ID, on the server's word). holepunch authenticates its own
// messages end to end (holepunch.Config.Identity), and the server only
// moves bytes. A replaced client ends; it does not take its ID back.
//
// A client whose connection is lost otherwise (the server restarted, a
// network change, a garbled stream) makes it again with back-off and
// registers again (Config.NoReconnect, ReconnectBackoff, OnRegistered);
// Recv goes on across it, Send fails with ErrDisconnected meanwhile.
//
// One host cannot fill the server: connections and frames are limited per
// source address (ServerConfig.MaxConnsPerAddr, MsgRate, MsgBurst).
//
// pion's vnet has no TCP, so the server takes a net.Listener and the client
// a dial function: tests run on loopback, the lab on real sockets.
package rendezvous
